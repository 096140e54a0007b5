/**
 * Litmus cases: short single-hart programs with the exact allowed set listed at
 * every access (format `sv39-litmus/1`, described in spec/litmus/README.md).
 * This file parses a case and runs it against the reference.
 */
import { type Gva, gpa, gva } from '../address.ts';
import { type GuestConfig, defaultGuestConfig } from '../config.ts';
import { type AccessAction, type GuestAction, type Outcome, outcomeKey } from '../guest-action.ts';
import { allowedOutcomes, freshOutcome, initialReference, referenceAccess, referenceStep } from '../reference.ts';

export interface LitmusCase {
  readonly name: string;
  readonly why: string;
  readonly config: { readonly svade: boolean; readonly walks_in_flight: boolean; readonly asid_len?: number };
  readonly ops: readonly LitmusOp[];
}

export type LitmusOp =
  | { readonly op: 'store'; readonly addr: string; readonly value: string }
  | { readonly op: 'satp'; readonly mode: 'sv39' | 'bare'; readonly asid: number; readonly root: string }
  | { readonly op: 'sfence'; readonly rs1: string | null; readonly rs2: number | null }
  | { readonly op: 'sum'; readonly value: boolean }
  | { readonly op: 'mxr'; readonly value: boolean }
  | {
      readonly op: 'access';
      readonly va: string;
      readonly kind: 'load' | 'store' | 'fetch';
      readonly priv?: 'S' | 'U';
      readonly allowed: readonly ({ readonly ok: string } | { readonly fault: number; readonly tval: string })[];
    };

export interface LitmusFile {
  readonly format: string;
  readonly cases: readonly LitmusCase[];
}

/** A litmus `allowed` entry as the reference names it (physical address only: A/D effects are checked through memory). */
export function litmusKey(a: { readonly ok: string } | { readonly fault: number; readonly tval: string }): string {
  return 'ok' in a ? `ok pa=0x${BigInt(a.ok).toString(16)}` : `fault ${a.fault} tval=0x${BigInt(a.tval).toString(16)}`;
}
export const referenceKey = (o: Outcome): string => (o.kind === 'ok' ? outcomeKey({ ...o, adUpdate: null }) : outcomeKey({ kind: 'fault', cause: o.cause, tval: o.tval }));

export function toGuestAction(op: LitmusOp): GuestAction {
  switch (op.op) {
    case 'store': return { kind: 'ptStore', addr: gpa(BigInt(op.addr)), value: BigInt(op.value) };
    case 'satp':
      return { kind: 'satp', satp: op.mode === 'bare' ? { mode: 'bare' } : { mode: 'sv39', asid: op.asid, rootPpn: BigInt(op.root) } };
    case 'sfence': return { kind: 'sfence', rs1: op.rs1 === null ? null : gva(BigInt(op.rs1)), rs2: op.rs2 };
    case 'sum': return { kind: 'sum', value: op.value };
    case 'mxr': return { kind: 'mxr', value: op.value };
    case 'access': return { kind: 'access', va: gva(BigInt(op.va)), access: op.kind, priv: op.priv ?? 'S', value: 0x5a5a5a5an };
  }
}

export interface AccessCheck {
  readonly opIndex: number;
  readonly expected: readonly string[];
  readonly actual: readonly string[];
}

export function litmusConfig(c: LitmusCase): GuestConfig {
  return { ...defaultGuestConfig, svade: c.config.svade, walksInFlight: c.config.walks_in_flight, asidLen: c.config.asid_len ?? defaultGuestConfig.asidLen };
}

/**
 * Run a case against the reference: every access's allowed set, as the reference
 * computes it, beside the listed one. Accesses advance the reference by the walk
 * that reads memory (the choice matters only for A/D updates, and then the cases
 * list one outcome).
 */
export function runLitmus(c: LitmusCase, cfg: GuestConfig = litmusConfig(c)): AccessCheck[] {
  const universe: Gva[] = c.ops.flatMap((o) => (o.op === 'access' ? [gva(BigInt(o.va))] : []));
  let ref = initialReference(cfg, universe);
  const checks: AccessCheck[] = [];
  c.ops.forEach((op, opIndex) => {
    const action = toGuestAction(op);
    if (action.kind !== 'access' || op.op !== 'access') {
      ref = referenceStep(ref, action as Exclude<GuestAction, AccessAction>);
      return;
    }
    const allowed = allowedOutcomes(ref, action);
    checks.push({
      opIndex,
      expected: [...new Set(op.allowed.map(litmusKey))].sort(),
      actual: [...new Set(allowed.map(referenceKey))].sort(),
    });
    ref = referenceAccess(ref, action, freshOutcome(ref, action));
  });
  return checks;
}
