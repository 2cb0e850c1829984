import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import dimse from 'dcmjs-dimse';
import { SopClassNotSupportedError, TransferInterruptedError } from './errors.ts';
import { InstanceReceiver, type InstanceRoute, type ReceiveResult } from './instance-receiver.ts';
import type { Logger } from './log.ts';
import { negotiate, type NegotiationPolicy, type Rejection } from './negotiation.ts';
import type { AssociationObserver } from './observer.ts';
import { outcomeFor, Status, statusHex } from './status.ts';
import { AssociationTrace, Attr, type OperationTrace } from './tracing.ts';
import type { DicomConnection } from './transport/dicom-connection.ts';

const { Scp, Dataset, constants, responses } = dimse;
const { PresentationContextResult, RejectResult, RejectSource, RejectReason, Status: DimseStatus } = constants;

type DimseAssociation = InstanceType<typeof dimse.association.Association>;
type PresentationContext = InstanceType<typeof dimse.association.PresentationContext>;
type CStoreRequest = InstanceType<typeof dimse.requests.CStoreRequest>;
type CEchoRequest = InstanceType<typeof dimse.requests.CEchoRequest>;
type CStoreResponse = InstanceType<typeof dimse.responses.CStoreResponse>;
type CEchoResponse = InstanceType<typeof dimse.responses.CEchoResponse>;

/** What one association needs from the listener; injected so the association holds no globals. */
export interface AssociationServices {
  readonly policy: NegotiationPolicy;
  readonly maxPduLength: number;
  readonly maxInstanceBytes: number;
  route(calledAeTitle: string): InstanceRoute;
  /** Admission control: false means over a limit, answered with a transient reject. */
  admit(callingAeTitle: string): boolean;
  release(callingAeTitle: string): void;
  readonly log: Logger;
  readonly observer: AssociationObserver;
}

export type AssociationOutcome = 'released' | 'aborted' | 'rejected' | 'closed' | 'protocol-error';

const REJECT_RESULT = { permanent: RejectResult.Permanent, transient: RejectResult.Transient };
const REJECT_SOURCE = { 'service-user': RejectSource.ServiceUser, 'service-provider-presentation': RejectSource.ServiceProviderPresentation };
const REJECT_REASON = {
  'no-reason-given': RejectReason.NoReasonGiven,
  'calling-ae-not-recognized': RejectReason.CallingAeNotRecognized,
  'called-ae-not-recognized': RejectReason.CalledAeNotRecognized,
  'local-limit-exceeded': RejectReason.LocalLimitExceeded,
};

/**
 * One DICOM association: negotiation policy applied, each C-STORE turned into one storage
 * call, and the status storage decided sent back. dcmjs-dimse handles the PDU grammar.
 */
export class DicomAssociation extends Scp {
  readonly #connection: DicomConnection;
  readonly #services: AssociationServices;
  readonly #startedAt = Date.now();
  readonly #results = new WeakMap<CStoreRequest, ReceiveResult>();
  readonly #receivers = new WeakMap<Writable, { receiver: InstanceReceiver; request: CStoreRequest }>();
  readonly #operations = new WeakMap<CStoreRequest, OperationTrace>();
  readonly #trace: AssociationTrace;
  #callingAeTitle = '';
  #calledAeTitle = '';
  #admitted = false;
  #inFlight: InstanceReceiver | undefined;
  #instances = 0;
  #failures = 0;
  #bytes = 0;
  #outcome: AssociationOutcome = 'closed';
  #ended = false;

  constructor(connection: DicomConnection, services: AssociationServices) {
    // The library's own timers are disabled: DicomConnection owns ARTIM, idle and stall timeouts.
    super(connection as unknown as Socket, { pduTimeout: 2 ** 31 - 1, connectTimeout: 2 ** 31 - 1, associationTimeout: 2 ** 31 - 1 });
    this.#connection = connection;
    this.#services = services;
    this.#trace = new AssociationTrace({ address: connection.remoteAddress, port: connection.remotePort, localPort: connection.socket.localPort });
    this.on('close', () => this.#end());
    this.on('networkError', (error: Error) => {
      services.log.debug('association-network-error', { peer: connection.remoteAddress, message: error.message });
      this.#outcome = this.#outcome === 'closed' ? 'protocol-error' : this.#outcome;
      this.#interrupt();
      connection.destroy();
    });
    connection.on('violation', (violation: string) => {
      this.#outcome = 'protocol-error';
      services.log.warn('association-violation', { peer: connection.remoteAddress, callingAe: this.#callingAeTitle, violation });
      services.observer.violation(violation);
      this.#interrupt();
    });
  }

  /** Data set bytes received so far of the instance in flight, 0 between instances. */
  get bytesInFlight(): number {
    return this.#inFlight?.bytes ?? 0;
  }

  /** Drain gave up on this association: fail its instance (never acknowledged) and A-ABORT. */
  abortForShutdown(): void {
    this.#outcome = 'aborted';
    this.#interrupt();
    this.#connection.abort();
  }

  override associationRequested(association: DimseAssociation): void {
    this.#guard(() => this.#associationRequested(association));
  }

  #associationRequested(association: DimseAssociation): void {
    this.#callingAeTitle = association.getCallingAeTitle();
    this.#calledAeTitle = association.getCalledAeTitle();
    this.#trace.identify(this.#callingAeTitle, this.#calledAeTitle);
    const contexts = association.getPresentationContexts().map(({ id, context }) => ({
      id,
      abstractSyntaxUid: context.getAbstractSyntaxUid(),
      // Copied: setResult rewrites the library's live array.
      transferSyntaxUids: [...context.getTransferSyntaxUids()],
    }));
    // PS3.8 9.3.2.2: presentation context IDs are unique odd numbers. A request that breaks this
    // cannot be answered context by context, so it is aborted at once rather than left hanging.
    const ids = contexts.map((context) => context.id);
    // dcmjs-dimse renumbers a repeated ID past the last one, so a renumbered ID shows up above 255.
    if (new Set(ids).size !== ids.length || ids.some((id) => id % 2 === 0 || id > 255)) {
      this.#outcome = 'protocol-error';
      this.#connection.emit('violation', 'bad-presentation-context-id');
      this.#connection.abort(6);
      return;
    }
    const decision = negotiate(
      { callingAeTitle: this.#callingAeTitle, calledAeTitle: this.#calledAeTitle, peerAddress: this.#connection.remoteAddress, contexts },
      this.#services.policy,
    );
    if (!decision.accepted) return this.#reject(decision.rejection);
    if (!this.#services.admit(this.#callingAeTitle)) {
      return this.#reject({ result: 'transient', source: 'service-provider-presentation', reason: 'local-limit-exceeded' });
    }
    this.#admitted = true;
    for (const context of decision.contexts) {
      const pc = association.getPresentationContext(context.id);
      if (context.accepted) pc.setResult(PresentationContextResult.Accept, context.transferSyntaxUid);
      else {
        pc.setResult(context.reason === 'abstract-syntax-not-supported'
          ? PresentationContextResult.RejectAbstractSyntaxNotSupported
          : PresentationContextResult.RejectTransferSyntaxesNotSupported);
      }
    }
    association.setNegotiateAsyncOps(false);
    association.setMaxPduLength(this.#services.maxPduLength);
    this.#services.observer.associationAccepted();
    this.sendAssociationAccept();
  }

  #reject(rejection: Rejection): void {
    this.#outcome = 'rejected';
    this.#services.observer.associationRejected(rejection.reason);
    this.#services.log.info('association-rejected', {
      peer: this.#connection.remoteAddress,
      callingAe: this.#callingAeTitle,
      calledAe: this.#calledAeTitle,
      result: rejection.result,
      reason: rejection.reason,
    });
    this.sendAssociationReject(REJECT_RESULT[rejection.result], REJECT_SOURCE[rejection.source], REJECT_REASON[rejection.reason]);
    this.#connection.end();
  }

  override associationReleaseRequested(): void {
    this.#guard(() => this.#associationReleaseRequested());
  }

  #associationReleaseRequested(): void {
    this.#outcome = 'released';
    this.#interrupt();
    this.sendAssociationReleaseResponse();
    this.#connection.end();
  }

  override abort(): void {
    this.#outcome = 'aborted';
    this.#interrupt();
    this.#connection.destroy();
  }

  override cEchoRequest(request: CEchoRequest, callback: (response: CEchoResponse) => void): void {
    this.#guard(() => this.#cEchoRequest(request, callback));
  }

  #cEchoRequest(request: CEchoRequest, callback: (response: CEchoResponse) => void): void {
    const response = responses.CEchoResponse.fromRequest(request);
    response.setStatus(DimseStatus.Success);
    this.#trace.startOperation('C-ECHO').end(Status.Success);
    callback(response);
  }

  override createStoreWritableStream(pc: PresentationContext, request: CStoreRequest): Writable {
    // Data on a context we refused breaks the protocol (PS3.8 9.3.5): abort, and drop what follows.
    if (pc.getResult() !== PresentationContextResult.Accept) {
      this.#connection.emit('violation', 'unaccepted-context');
      this.#connection.abort(6);
      // The library may still write to it after ending it; with no listener that 'error' would kill the process.
      const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
      sink.on('error', () => undefined);
      return sink;
    }
    const transferSyntaxUid = pc.getAcceptedTransferSyntaxUid() ?? '';
    const operation = this.#trace.startOperation('C-STORE', { [Attr.sopClass]: request.getAffectedSopClassUid(), [Attr.transferSyntax]: transferSyntaxUid });
    this.#operations.set(request, operation);
    const receiver = new InstanceReceiver(
      {
        sopClassUid: request.getAffectedSopClassUid(),
        sopInstanceUid: request.getAffectedSopInstanceUid(),
        transferSyntaxUid,
        callingAeTitle: this.#callingAeTitle,
        calledAeTitle: this.#calledAeTitle,
        receivedAt: new Date(),
        studyInstanceUid: undefined,
        seriesInstanceUid: undefined,
      },
      this.#services.route(this.#calledAeTitle),
      this.#connection,
      this.#services.maxInstanceBytes,
      operation.context,
    );
    receiver.on('error', () => undefined);
    if (pc.getAbstractSyntaxUid() !== request.getAffectedSopClassUid()) {
      receiver.refuse(new SopClassNotSupportedError(`command SOP Class ${request.getAffectedSopClassUid()} sent on a ${pc.getAbstractSyntaxUid()} context`));
    }
    this.#inFlight = receiver;
    this.#receivers.set(receiver, { receiver, request });
    this.#connection.setPhase('receiving');
    this.#connection.streamDataTo({
      presentationContextId: pc.getPresentationContextId(),
      write: (value) => {
        if (!receiver.destroyed) receiver.write(value);
      },
    });
    return receiver;
  }

  override createDatasetFromStoreWritableStream(writable: Writable, _pc: PresentationContext, callback: (dataset: InstanceType<typeof Dataset>) => void): void {
    // The last fragment may also have come the library's way (several PDVs in one PDU).
    this.#connection.streamDataTo(undefined);
    const entry = this.#receivers.get(writable);
    if (!entry) return callback(new Dataset({}));
    this.#connection.setPhase('storing');
    entry.receiver.result().then(
      (result) => {
        this.#results.set(entry.request, result);
        this.#inFlight = undefined;
        callback(new Dataset({}));
      },
      (error: unknown) => {
        this.#services.log.error('store-internal-error', { message: (error as Error).message });
        this.#inFlight = undefined;
        callback(new Dataset({}));
      },
    );
  }

  override cStoreRequest(request: CStoreRequest, callback: (response: CStoreResponse) => void): void {
    this.#guard(() => this.#cStoreRequest(request, callback));
  }

  #cStoreRequest(request: CStoreRequest, callback: (response: CStoreResponse) => void): void {
    const result = this.#results.get(request);
    // No result means the request carried no data set or storing failed unexpectedly.
    const outcome = result?.outcome ?? outcomeFor(new Error('no data set'));
    const response = responses.CStoreResponse.fromRequest(request);
    response.setStatus(outcome.status);
    if (outcome.comment) response.setErrorComment(outcome.comment);
    this.#instances += 1;
    this.#bytes += result?.bytes ?? 0;
    if (outcome.status !== Status.Success) {
      this.#failures += 1;
      this.#services.log.warn('store-failed', {
        callingAe: this.#callingAeTitle,
        calledAe: this.#calledAeTitle,
        sopClassUid: request.getAffectedSopClassUid(),
        transferSyntaxUid: result?.instance.transferSyntaxUid,
        status: statusHex(outcome.status),
        reason: outcome.reason,
        detail: result?.error?.message,
      });
    }
    this.#services.observer.instance(outcome, result);
    const key = result?.stored?.key;
    this.#operations.get(request)?.end(outcome.status, { [Attr.bytes]: result?.bytes ?? 0, ...(key ? { [Attr.storageKey]: key } : {}) }, outcome.status === Status.Success ? undefined : outcome.reason);
    this.#connection.setPhase('idle');
    callback(response);
  }

  /**
   * dcmjs-dimse emits these events through an async emitter, so an exception in a handler would
   * become an unhandled rejection and leave the association hanging. Any such failure aborts it.
   */
  #guard(handler: () => void): void {
    try {
      handler();
    } catch (error) {
      this.#outcome = 'protocol-error';
      this.#services.log.error('association-handler-failed', { peer: this.#connection.remoteAddress, message: (error as Error).message });
      this.#interrupt();
      this.#connection.abort();
    }
  }

  /** Fails the instance in flight, if any: it will never be acknowledged. */
  #interrupt(): void {
    this.#connection.streamDataTo(undefined);
    const receiver = this.#inFlight;
    if (!receiver || receiver.writableFinished) return;
    const error = new TransferInterruptedError('the association ended mid-instance');
    receiver.destroy(error);
    const request = this.#receivers.get(receiver)?.request;
    const outcome = outcomeFor(error);
    if (request) this.#operations.get(request)?.end(outcome.status, { [Attr.bytes]: receiver.bytes }, outcome.reason);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#interrupt();
    this.#trace.end(this.#outcome);
    if (!this.#admitted) return;
    this.#services.release(this.#callingAeTitle);
    this.#services.log.info('association', {
      peer: this.#connection.remoteAddress,
      callingAe: this.#callingAeTitle,
      calledAe: this.#calledAeTitle,
      instances: this.#instances,
      failures: this.#failures,
      bytes: this.#bytes,
      durationMs: Date.now() - this.#startedAt,
      outcome: this.#outcome,
    });
    this.#services.observer.associationEnded(this.#outcome);
  }
}
