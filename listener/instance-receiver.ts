import { Writable } from 'node:stream';
import { context, type Context } from '@opentelemetry/api';
import { finished } from 'node:stream/promises';
import { buildPart10Header } from './dicom/part10.ts';
import { framingCheckFor, type FramingCheck } from './dicom/dataset-framing.ts';
import { DatasetHeadReader, type DatasetHead } from './dicom/dataset-head.ts';
import { InstanceTooLargeError, SopClassMismatchError, SopInstanceMismatchError, TransferInterruptedError } from './errors.ts';
import { outcomeFor, SUCCESS, type Outcome } from './status.ts';
import { renderKey } from './storage/key-template.ts';
import type { InstanceDescriptor, ObjectWriter, Storage, StoredObject } from './storage/storage.ts';

/** Lets storage slow the sender down: the transport stops reading the socket while paused. */
export interface FlowControl {
  pause(): void;
  resume(): void;
}

export interface InstanceRoute {
  readonly storage: Storage;
  readonly keyTemplate: string;
}

export interface ReceiveResult {
  readonly outcome: Outcome;
  readonly instance: InstanceDescriptor;
  readonly bytes: number;
  readonly stored: StoredObject | undefined;
  readonly error: Error | undefined;
}

/** Bytes of the data set held back, at most, while the head that names the object arrives. */
const HEAD_LIMIT_BYTES = 1024 * 1024;

/**
 * The Writable that dcmjs-dimse fills with one C-STORE data set, PDV by PDV. It names the
 * object from the data set's head, prepends the Part 10 header and streams everything else
 * through untouched. Once anything fails it keeps swallowing the rest of the data set, so the
 * association stays in step and the sender gets a proper failure status.
 */
export class InstanceReceiver extends Writable {
  readonly #route: InstanceRoute;
  readonly #flow: FlowControl;
  readonly #maxBytes: number;
  readonly #head: DatasetHeadReader;
  readonly #framing: FramingCheck;
  #instance: InstanceDescriptor;
  #held: Buffer[] = [];
  #writer: ObjectWriter | undefined;
  #bytes = 0;
  #error: Error | undefined;
  #waitingForDrain = false;
  #aborted: Promise<void> = Promise.resolve();
  readonly #traceContext: Context;

  /** `traceContext` is the C-STORE span's: storage calls made for this instance run inside it. */
  constructor(instance: InstanceDescriptor, route: InstanceRoute, flow: FlowControl, maxBytes: number, traceContext: Context) {
    // One PDV never waits in this stream's own buffer: back-pressure goes to the socket instead.
    super({ highWaterMark: 16 * 1024 * 1024 });
    this.#instance = instance;
    this.#route = route;
    this.#flow = flow;
    this.#maxBytes = maxBytes;
    this.#traceContext = traceContext;
    this.#head = new DatasetHeadReader(instance.transferSyntaxUid, HEAD_LIMIT_BYTES);
    this.#framing = framingCheckFor(instance.transferSyntaxUid, flow);
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Refuses the instance before any byte is stored; the data set is still drained. */
  refuse(reason: Error): void {
    this.#fail(reason);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#error) return callback();
    context.with(this.#traceContext, () => this.#receive(chunk));
    callback();
  }

  #receive(chunk: Buffer): void {
    this.#bytes += chunk.length;
    try {
      if (this.#bytes > this.#maxBytes) throw new InstanceTooLargeError(`instance exceeds ${this.#maxBytes} bytes`);
      this.#framing.push(chunk);
      if (this.#writer) this.#forward(chunk);
      else {
        this.#held.push(chunk);
        const head = this.#head.push(chunk);
        if (head) this.#open(head);
      }
    } catch (error) {
      this.#fail(error as Error);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    void context.with(this.#traceContext, () => this.#finish()).then(() => callback());
  }

  async #finish(): Promise<void> {
    if (!this.#error) {
      try {
        // A truncated data set is refused before the object is completed.
        await this.#framing.end();
        if (!this.#writer) this.#open(this.#head.finish());
        this.#writer!.stream.end();
        // An ending stream never emits 'drain', and no more data is coming: let go of the socket.
        this.#release();
      } catch (error) {
        this.#fail(error as Error);
      }
    }
  }

  /** Also runs after a normal finish (autoDestroy); only an early end is an interruption. */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (error || !this.writableFinished) this.#fail(error ?? new TransferInterruptedError('the association ended mid-instance'));
    callback(error);
  }

  /** Settles once the object is durable (Success) or definitely not stored (a failure status). */
  async result(): Promise<ReceiveResult> {
    try {
      await finished(this);
    } catch {
      this.#fail(new TransferInterruptedError('the association ended mid-instance'));
    }
    if (!this.#error && this.#writer) {
      try {
        const writer = this.#writer;
        const stored = await context.with(this.#traceContext, () => writer.commit());
        return this.#result(SUCCESS, stored);
      } catch (error) {
        this.#fail(error as Error);
      }
    }
    // The failure is reported only after the object is gone, so a sender's retry never races it.
    await this.#aborted;
    return this.#result(outcomeFor(this.#error), undefined);
  }

  #result(outcome: Outcome, stored: StoredObject | undefined): ReceiveResult {
    return { outcome, instance: this.#instance, bytes: this.#bytes, stored, error: this.#error };
  }

  #open(head: DatasetHead): void {
    const instance = this.#instance;
    if (head.sopClassUid !== undefined && head.sopClassUid !== instance.sopClassUid) {
      throw new SopClassMismatchError(`data set SOP Class ${head.sopClassUid}, command ${instance.sopClassUid}`);
    }
    if (head.sopInstanceUid !== undefined && head.sopInstanceUid !== instance.sopInstanceUid) {
      throw new SopInstanceMismatchError('the data set SOP Instance UID differs from the command');
    }
    this.#instance = { ...instance, studyInstanceUid: head.studyInstanceUid, seriesInstanceUid: head.seriesInstanceUid };
    const key = renderKey(this.#route.keyTemplate, this.#route.storage.prefix, this.#instance);
    this.#writer = this.#route.storage.open(key, this.#instance);
    this.#writer.stream.on('error', (error) => this.#fail(error));
    const header = buildPart10Header({
      sopClassUid: instance.sopClassUid,
      sopInstanceUid: instance.sopInstanceUid,
      transferSyntaxUid: instance.transferSyntaxUid,
      sourceAeTitle: instance.callingAeTitle,
    });
    const held = this.#held;
    this.#held = [];
    this.#forward(header);
    for (const chunk of held) this.#forward(chunk);
  }

  #forward(chunk: Buffer): void {
    const stream = this.#writer!.stream;
    if (stream.write(chunk) || this.#waitingForDrain) return;
    this.#waitingForDrain = true;
    this.#flow.pause();
    stream.once('drain', () => this.#release());
  }

  #release(): void {
    if (!this.#waitingForDrain) return;
    this.#waitingForDrain = false;
    this.#flow.resume();
  }

  #fail(error: Error): void {
    if (this.#error) return;
    this.#error = error;
    this.#held = [];
    this.#release();
    if (this.#writer) this.#aborted = this.#writer.abort(error);
  }
}
