/**
 * One work queue of object keys (`namespace/name`), with client-go's guarantees:
 *
 * - a key is queued at most once, however many events arrive for it (they coalesce);
 * - a key is never handled by two workers at once: an event during its reconcile marks it dirty,
 *   and it is queued again only when that reconcile ends;
 * - failures are retried after an exponential, per-key delay; success forgets the failures.
 */
export interface WorkQueueOptions {
  /** Keys handled at the same time (never the same key twice). @default 1 */
  readonly workers?: number;
  /** First retry delay after a failure. @default 1000 */
  readonly retryBaseMs?: number;
  /** Longest retry delay. @default 300000 */
  readonly retryMaxMs?: number;
}

export type KeyHandler = (key: string) => Promise<void>;

export class WorkQueue {
  private readonly handler: KeyHandler;
  private readonly workers: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly queue: string[] = [];
  /** Keys waiting to be handled (queued, or marked during their own reconcile). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private readonly idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(handler: KeyHandler, options: WorkQueueOptions = {}) {
    this.handler = handler;
    this.workers = options.workers ?? 1;
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.retryMaxMs = options.retryMaxMs ?? 300_000;
  }

  /** Queues `key` now, unless it is already waiting. */
  add(key: string): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (!this.processing.has(key)) this.queue.push(key);
    this.pump();
  }

  /** Queues `key` after `ms`; an earlier pending delay for it wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const pending = this.delayed.get(key);
    if (pending !== undefined) {
      if (pending.at <= at) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.delayed.set(key, { at, timer });
  }

  /** Queues `key` after its next backoff delay: base × 2^(failures so far), capped. */
  addRateLimited(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    const delay = Math.min(this.retryBaseMs * 2 ** failures, this.retryMaxMs);
    this.addAfter(key, delay);
    return delay;
  }

  /** Forgets `key`'s failures, so its next retry starts from the base delay. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Keys queued or being handled, not counting delayed ones. */
  get length(): number {
    return this.queue.length + this.processing.size;
  }

  /** Resolves once nothing is queued or being handled (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking keys, drops delayed ones, and waits for the reconciles in flight. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.queue.length = 0;
    this.dirty.clear();
    await this.idle();
  }

  private pump(): void {
    while (!this.stopped && this.processing.size < this.workers && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.dirty.delete(key);
      this.processing.add(key);
      void this.run(key);
    }
    if (this.length === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
  }

  private async run(key: string): Promise<void> {
    try {
      await this.handler(key);
    } catch {
      // The handler owns error handling (it requeues); a throw here must not stop the queue.
    } finally {
      this.processing.delete(key);
      if (this.dirty.has(key) && !this.stopped) this.queue.push(key);
      this.pump();
    }
  }
}
