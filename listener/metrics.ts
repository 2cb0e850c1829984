import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Counter, Histogram, UpDownCounter } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider, type IMetricReader } from '@opentelemetry/sdk-metrics';
import type { ReceiveResult } from './instance-receiver.ts';
import type { AssociationObserver } from './observer.ts';
import { Status, statusHex, type Outcome } from './status.ts';

/**
 * Listener metrics through OpenTelemetry, also served as Prometheus text on the ops port.
 * Every label comes from a small fixed set (outcomes, statuses, reasons), never from AE
 * titles or UIDs, so cardinality stays bounded.
 */
export class ListenerMetrics implements AssociationObserver {
  readonly #prometheus = new PrometheusExporter({ preventServerStart: true });
  readonly #provider: MeterProvider;
  readonly #activeAssociations: UpDownCounter;
  readonly #associations: Counter;
  readonly #instances: Counter;
  readonly #bytes: Counter;
  readonly #storeDuration: Histogram;
  readonly #storageErrors: Counter;
  readonly #violations: Counter;

  /** `bytesInFlight` is read at collection time: the instances being received right now. */
  constructor(bytesInFlight: () => number, extraReaders: readonly IMetricReader[] = []) {
    this.#provider = new MeterProvider({ readers: [this.#prometheus, ...extraReaders] });
    const meter = this.#provider.getMeter('dicom-listener');
    this.#activeAssociations = meter.createUpDownCounter('dicom_associations_active', { description: 'Associations currently open' });
    this.#associations = meter.createCounter('dicom_associations', { description: 'Associations by outcome' });
    this.#instances = meter.createCounter('dicom_instances', { description: 'C-STORE operations by DIMSE status' });
    this.#bytes = meter.createCounter('dicom_received_bytes', { description: 'Data set bytes received', unit: 'By' });
    this.#storeDuration = meter.createHistogram('dicom_store_duration_seconds', {
      description: 'Time from the first data set byte to the C-STORE response',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] },
    });
    this.#storageErrors = meter.createCounter('dicom_storage_errors', { description: 'Failed instances by cause' });
    this.#violations = meter.createCounter('dicom_protocol_violations', { description: 'Connections closed for protocol or timeout violations' });
    meter
      .createObservableGauge('dicom_bytes_in_flight', { description: 'Data set bytes of instances being received, not yet answered', unit: 'By' })
      .addCallback((result) => result.observe(bytesInFlight()));
  }

  associationAccepted(): void {
    this.#activeAssociations.add(1);
  }

  associationRejected(reason: string): void {
    this.#associations.add(1, { outcome: 'rejected', reason });
  }

  associationEnded(outcome: string): void {
    this.#activeAssociations.add(-1);
    this.#associations.add(1, { outcome });
  }

  instance(outcome: Outcome, result: ReceiveResult | undefined): void {
    const success = outcome.status === Status.Success;
    this.#instances.add(1, { status: statusHex(outcome.status), status_class: success ? 'success' : 'failure' });
    if (!success) this.#storageErrors.add(1, { reason: outcome.reason });
    if (result) {
      this.#bytes.add(result.bytes);
      this.#storeDuration.record((Date.now() - result.instance.receivedAt.getTime()) / 1000, { status_class: success ? 'success' : 'failure' });
    }
  }

  violation(kind: string): void {
    this.#violations.add(1, { kind });
  }

  handleScrape(request: IncomingMessage, response: ServerResponse): void {
    this.#prometheus.getMetricsRequestHandler(request, response);
  }

  async shutdown(): Promise<void> {
    await this.#provider.shutdown();
  }
}
