/** Counts open associations against the process-wide cap; over it, the caller sends a transient reject. */
export class AssociationLimiter {
  readonly #max: number;
  #open = 0;

  constructor(max: number) {
    this.#max = max;
  }

  get open(): number {
    return this.#open;
  }

  tryAcquire(): boolean {
    if (this.#open >= this.#max) return false;
    this.#open += 1;
    return true;
  }

  release(): void {
    this.#open = Math.max(0, this.#open - 1);
  }
}
