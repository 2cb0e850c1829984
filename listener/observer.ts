import type { ReceiveResult } from './instance-receiver.ts';
import type { Outcome } from './status.ts';

/**
 * Notifications about associations, for metrics and traces. Observers watch and never
 * decide: the status is already fixed when they hear of it, and their failures are swallowed.
 */
export interface AssociationObserver {
  associationAccepted(): void;
  associationRejected(reason: string): void;
  associationEnded(outcome: string): void;
  instance(outcome: Outcome, result: ReceiveResult | undefined): void;
  violation(kind: string): void;
}

/** Fans notifications out to every observer, isolating each one's failures. */
export function combineObservers(observers: readonly Partial<AssociationObserver>[]): AssociationObserver {
  const notify = <K extends keyof AssociationObserver>(name: K, ...args: Parameters<AssociationObserver[K]>): void => {
    for (const observer of observers) {
      try {
        (observer[name] as ((...a: Parameters<AssociationObserver[K]>) => void) | undefined)?.(...args);
      } catch {
        // Observers never break a transfer.
      }
    }
  };
  return {
    associationAccepted: () => notify('associationAccepted'),
    associationRejected: (reason) => notify('associationRejected', reason),
    associationEnded: (outcome) => notify('associationEnded', outcome),
    instance: (outcome, result) => notify('instance', outcome, result),
    violation: (kind) => notify('violation', kind),
  };
}
