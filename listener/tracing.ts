import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { statusHex } from './status.ts';

const tracer = trace.getTracer('dicom-listener');

/**
 * Attribute names. DICOM has no semantic conventions, so DIMSE operations are modelled as RPCs
 * (`rpc.system` = dicom) and the DICOM specifics sit under `dicom.*`. Only transfer facts are
 * recorded: AE titles, classes, syntaxes, sizes, statuses and keys, never patient data.
 */
export const Attr = {
  rpcSystem: 'rpc.system',
  rpcMethod: 'rpc.method',
  rpcStatus: 'rpc.response.status_code',
  peerAddress: 'network.peer.address',
  peerPort: 'network.peer.port',
  serverPort: 'server.port',
  callingAe: 'dicom.calling_ae_title',
  calledAe: 'dicom.called_ae_title',
  outcome: 'dicom.association.outcome',
  sopClass: 'dicom.sop_class_uid',
  transferSyntax: 'dicom.transfer_syntax_uid',
  bytes: 'dicom.data_set.bytes',
  status: 'dicom.status',
  storageKey: 'dicom.storage.key',
  failureReason: 'dicom.failure.reason',
} as const;

/** One DIMSE operation's span and the context its storage calls run in. */
export interface OperationTrace {
  readonly context: Context;
  end(status: number, attributes?: Attributes, failureReason?: string): void;
}

/**
 * One trace per association: a SERVER span from the A-ASSOCIATE-RQ to release or abort, with a
 * child span per DIMSE operation. Without an SDK these are no-op spans that cost next to nothing.
 */
export class AssociationTrace {
  readonly #span: Span;
  readonly #context: Context;
  #ended = false;

  constructor(peer: { address: string | undefined; port: number | undefined; localPort: number | undefined }) {
    this.#span = tracer.startSpan('DICOM association', {
      kind: SpanKind.SERVER,
      attributes: {
        [Attr.rpcSystem]: 'dicom',
        ...(peer.address ? { [Attr.peerAddress]: peer.address } : {}),
        ...(peer.port ? { [Attr.peerPort]: peer.port } : {}),
        ...(peer.localPort ? { [Attr.serverPort]: peer.localPort } : {}),
      },
    }, context.active());
    this.#context = trace.setSpan(context.active(), this.#span);
  }

  identify(callingAeTitle: string, calledAeTitle: string): void {
    this.#span.setAttributes({ [Attr.callingAe]: callingAeTitle, [Attr.calledAe]: calledAeTitle });
  }

  startOperation(method: 'C-ECHO' | 'C-STORE', attributes: Attributes = {}): OperationTrace {
    const span = tracer.startSpan(method, { kind: SpanKind.INTERNAL, attributes: { [Attr.rpcSystem]: 'dicom', [Attr.rpcMethod]: method, ...attributes } }, this.#context);
    const operationContext = trace.setSpan(this.#context, span);
    let ended = false;
    return {
      context: operationContext,
      end: (status, extra = {}, failureReason) => {
        if (ended) return;
        ended = true;
        span.setAttributes({ ...extra, [Attr.status]: statusHex(status), [Attr.rpcStatus]: statusHex(status) });
        if (failureReason) {
          span.setAttribute(Attr.failureReason, failureReason);
          span.setStatus({ code: SpanStatusCode.ERROR, message: failureReason });
        }
        span.end();
      },
    };
  }

  end(outcome: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#span.setAttribute(Attr.outcome, outcome);
    if (outcome === 'aborted' || outcome === 'protocol-error') this.#span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
    this.#span.end();
  }
}
