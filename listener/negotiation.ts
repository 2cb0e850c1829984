import { decideAccess, type AccessPolicy } from './access-policy.ts';
import { chooseTransferSyntax, chooseVerificationTransferSyntax } from './dicom/transfer-syntaxes.ts';
import { isNonStorageServiceClass, isStandardStorageSopClass, isValidUid, VERIFICATION_SOP_CLASS } from './dicom/sop-classes.ts';

export interface ProposedContext {
  readonly id: number;
  readonly abstractSyntaxUid: string;
  readonly transferSyntaxUids: readonly string[];
}

export interface AssociationRequestFacts {
  readonly callingAeTitle: string;
  readonly calledAeTitle: string;
  readonly peerAddress: string | undefined;
  readonly contexts: readonly ProposedContext[];
}

export interface NegotiationPolicy {
  readonly access: AccessPolicy;
  readonly acceptUnknownSopClasses: boolean;
}

/** PS3.8 9.3.4 A-ASSOCIATE-RJ result, source and reason. */
export interface Rejection {
  readonly result: 'permanent' | 'transient';
  readonly source: 'service-user' | 'service-provider-presentation';
  readonly reason: 'no-reason-given' | 'calling-ae-not-recognized' | 'called-ae-not-recognized' | 'local-limit-exceeded';
}

export type ContextDecision =
  | { readonly id: number; readonly accepted: true; readonly transferSyntaxUid: string }
  | { readonly id: number; readonly accepted: false; readonly reason: 'abstract-syntax-not-supported' | 'transfer-syntaxes-not-supported' };

export type Negotiation =
  | { readonly accepted: true; readonly contexts: readonly ContextDecision[] }
  | { readonly accepted: false; readonly rejection: Rejection };

function decideContext(context: ProposedContext, policy: NegotiationPolicy): ContextDecision {
  const { id, abstractSyntaxUid, transferSyntaxUids } = context;
  if (abstractSyntaxUid === VERIFICATION_SOP_CLASS) {
    const ts = chooseVerificationTransferSyntax(transferSyntaxUids);
    return ts ? { id, accepted: true, transferSyntaxUid: ts } : { id, accepted: false, reason: 'transfer-syntaxes-not-supported' };
  }
  const storage = isStandardStorageSopClass(abstractSyntaxUid)
    || (policy.acceptUnknownSopClasses && isValidUid(abstractSyntaxUid) && !isNonStorageServiceClass(abstractSyntaxUid));
  if (!storage) return { id, accepted: false, reason: 'abstract-syntax-not-supported' };
  const ts = chooseTransferSyntax(transferSyntaxUids);
  return ts ? { id, accepted: true, transferSyntaxUid: ts } : { id, accepted: false, reason: 'transfer-syntaxes-not-supported' };
}

/**
 * Which associations and presentation contexts to accept: pure policy, no I/O. Every
 * proposed context gets a result; an association whose contexts are all refused is still
 * accepted, as PS3.8 expects, and the sender decides what to do.
 */
export function negotiate(request: AssociationRequestFacts, policy: NegotiationPolicy): Negotiation {
  const access = decideAccess(policy.access, request.calledAeTitle, request.callingAeTitle, request.peerAddress);
  if (access !== 'allowed') {
    // PS3.8 has no reason for a refused network; "no reason given" reveals nothing to a prober.
    const reason = access === 'source-not-allowed' ? 'no-reason-given' : access;
    return { accepted: false, rejection: { result: 'permanent', source: 'service-user', reason } };
  }
  return { accepted: true, contexts: request.contexts.map((context) => decideContext(context, policy)) };
}
