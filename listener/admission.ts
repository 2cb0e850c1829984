/**
 * Counts open associations against the process-wide cap and, optionally, a cap per calling
 * AE; over either, the caller answers with a transient reject (local limit exceeded).
 */
export class AssociationLimiter {
  readonly #max: number;
  readonly #maxPerCaller: number | undefined;
  readonly #perCaller = new Map<string, number>();
  #open = 0;

  constructor(max: number, maxPerCaller: number | undefined) {
    this.#max = max;
    this.#maxPerCaller = maxPerCaller;
  }

  tryAcquire(callingAeTitle: string): boolean {
    const caller = this.#perCaller.get(callingAeTitle) ?? 0;
    if (this.#open >= this.#max) return false;
    if (this.#maxPerCaller !== undefined && caller >= this.#maxPerCaller) return false;
    this.#open += 1;
    this.#perCaller.set(callingAeTitle, caller + 1);
    return true;
  }

  release(callingAeTitle: string): void {
    this.#open = Math.max(0, this.#open - 1);
    const caller = (this.#perCaller.get(callingAeTitle) ?? 1) - 1;
    if (caller <= 0) this.#perCaller.delete(callingAeTitle);
    else this.#perCaller.set(callingAeTitle, caller);
  }
}
