/**
 * The reference for a guest with several harts (1 to 4): the exact set of
 * outcomes each hart may produce for an access, built on the one-hart reference
 * (spec/reference.ts) without changing it (docs/decisions/0014).
 *
 * - Each hart keeps its own one-hart reference state: its satp, SUM and MXR, its
 *   saturated cache and its in-flight roots. Address-translation caches are per
 *   hart: SFENCE.VMA "orders only the local hart's implicit references to the
 *   memory-management data structures" (priv spec, "Supervisor Memory-Management
 *   Fence Instruction"), and satp and sstatus are per-hart CSRs.
 * - Memory is one, shared, and sequentially consistent: every store (a
 *   page-table store, an access's store, an A/D update under Svadu), whichever
 *   hart makes it, changes it at once for every hart, and every hart's cache
 *   saturates against it (the priv spec's "Address-Translation Cache" rule, per
 *   hart: a hart may use any translation valid since its last fence that covers
 *   it, so it may have cached any value a walk of its own could read since).
 *   What RVWMO would add is in the decision record.
 * - SBI remote fences (spec/sbi.ts) fence each hart they name, all before the
 *   call returns: one step.
 *
 * Every hart's state holds the same memory object; the functions here keep it so.
 */
import { match } from 'ts-pattern';
import type { Gpa, Gva } from './address.ts';
import type { GuestConfig } from './config.ts';
import { type AccessAction, type GuestAction, type Outcome, describeAction, outcomeWrites } from './guest-action.ts';
import { type Memory, emptyMemory, writeWord } from './memory.ts';
import { type ReferenceState, allowedOutcomes, initialReference, referenceStep, stored } from './reference.ts';
import {
  SBI_ERR_INVALID_PARAM, SBI_SUCCESS, type SbiCall, type SbiRet, callAsid, describeSbiCall, fenceRange, rangeSfence, selectHarts,
} from './sbi.ts';

/** A hart's id: the guest's harts are numbered 0 .. N-1 (decision record 0014). */
export type HartId = number;

/** The most harts the reference takes (the checks cover 1 to 4; nothing in the rules depends on it). */
export const MAX_HARTS = 4;

export interface HartsState {
  /**
   * Hart i's one-hart reference state: its satp, SUM, MXR, saturated cache and
   * in-flight roots, over the one memory every hart shares (the same object in each).
   */
  readonly harts: readonly [ReferenceState, ...ReferenceState[]];
}

/** One step of a guest with several harts: what one hart does. */
export type HartStep =
  /** An instruction of the guest (spec/guest-action.ts) on hart `hart`. */
  | { readonly kind: 'guest'; readonly hart: HartId; readonly action: GuestAction }
  /** An SBI call hart `hart` makes; it returns once every hart it names is fenced. */
  | { readonly kind: 'sbi'; readonly hart: HartId; readonly call: SbiCall };

/** N harts, each as the one-hart reference starts (satp Bare, SUM = MXR = 0, nothing cached), over one memory. */
export function initialHarts(cfg: GuestConfig, harts: number, universe: readonly Gva[], mem: Memory = emptyMemory): HartsState {
  if (!Number.isInteger(harts) || harts < 1 || harts > MAX_HARTS) throw new RangeError(`harts must be 1 to ${MAX_HARTS}, got ${harts}`);
  const first = initialReference(cfg, universe, mem);
  // Every hart shares the first one's universe and memory objects.
  return { harts: [first, ...Array.from({ length: harts - 1 }, () => first)] };
}

export const hartCount = (s: HartsState): number => s.harts.length;

/** The memory every hart shares. */
export const sharedMemory = (s: HartsState): Memory => s.harts[0].mem;

/**
 * Hart `hart` as a one-hart reference: what it may do next is what that state
 * allows (`allowedOutcomes`, `walkAllowed`, `freshOutcome` of spec/reference.ts).
 */
export function hartView(s: HartsState, hart: HartId): ReferenceState {
  const view = s.harts[hart];
  if (view === undefined) throw new RangeError(`no hart ${hart}: this guest has harts 0 to ${s.harts.length - 1}`);
  return view;
}

/** Refuse a hart the guest does not have (a step must name one of its harts). */
function checkHart(s: HartsState, hart: HartId): void {
  hartView(s, hart);
}

/** The exact set of outcomes hart `hart` may produce for this access now. */
export function hartsAllowedOutcomes(s: HartsState, hart: HartId, a: AccessAction): Outcome[] {
  return allowedOutcomes(hartView(s, hart), a);
}

/** Every hart's state through `f`. */
function mapHarts(s: HartsState, f: (h: ReferenceState, hart: HartId) => ReferenceState): HartsState {
  const [first, ...rest] = s.harts;
  return { harts: [f(first, 0), ...rest.map((h, i) => f(h, i + 1))] };
}

/**
 * A store to the one memory, by whichever hart: memory changes once, and each
 * hart's state takes the new memory, saturating where its cache read that word
 * (sequential consistency: the store is at once visible to every hart's walks).
 */
export function storeShared(s: HartsState, addr: Gpa, value: bigint): HartsState {
  const mem = writeWord(sharedMemory(s), addr, value);
  return mem === sharedMemory(s) ? s : mapHarts(s, (h) => stored(h, mem, addr));
}

/**
 * Apply an instruction other than an access on hart `hart`. A page-table store
 * changes the shared memory (`storeShared`); satp, SUM and MXR writes change that
 * hart's CSRs alone, and SFENCE.VMA fences that hart's cache alone (priv spec,
 * "Supervisor Memory-Management Fence Instruction": it orders only the local
 * hart's implicit references).
 */
export function hartsStep(s: HartsState, hart: HartId, a: Exclude<GuestAction, AccessAction>): HartsState {
  return match(a)
    .with({ kind: 'ptStore' }, (st) => {
      checkHart(s, hart);
      return storeShared(s, st.addr, st.value);
    })
    .with({ kind: 'satp' }, { kind: 'sfence' }, { kind: 'sum' }, { kind: 'mxr' }, (local) => {
      const next = referenceStep(hartView(s, hart), local);
      return mapHarts(s, (h, i) => (i === hart ? next : h));
    })
    .exhaustive();
}

/**
 * Advance by an access of hart `hart` that produced `o` (which must be one
 * `hartsAllowedOutcomes` allows): its A/D update, then its store, each a store to
 * the shared memory that every hart saturates against before the next lands (as
 * the one-hart `referenceAccess` saturates its own cache in between).
 */
export function hartsAccess(s: HartsState, hart: HartId, a: AccessAction, o: Outcome): HartsState {
  checkHart(s, hart);
  let next = s;
  for (const [addr, value] of outcomeWrites(a, o)) next = storeShared(next, addr, value);
  return next;
}

/**
 * An SBI remote fence (spec/sbi.ts) made by any hart: if the hart list is valid,
 * every hart it names runs SFENCE.VMA over the range, all of it before the call
 * returns (SBI spec, "RFENCE Extension"), so in one step; the caller is fenced
 * only if the list names it. An invalid hart list returns SBI_ERR_INVALID_PARAM
 * and fences no hart ("Binary Encoding", "Hart Mask Errors").
 */
export function hartsSbi(s: HartsState, hart: HartId, call: SbiCall): { readonly state: HartsState; readonly ret: SbiRet } {
  checkHart(s, hart);
  const selection = selectHarts(call.hartMask, call.hartMaskBase, hartCount(s));
  return match(selection)
    .with({ kind: 'invalid-param' }, () => ({ state: s, ret: { error: SBI_ERR_INVALID_PARAM, value: 0n } as const }))
    .with({ kind: 'harts' }, ({ harts }) => {
      const range = fenceRange(call.startAddr, call.size);
      const asid = callAsid(call);
      const named = new Set(harts);
      const state = mapHarts(s, (h, i) => (named.has(i) ? rangeSfence(h, range, asid) : h));
      return { state, ret: { error: SBI_SUCCESS, value: 0n } as const };
    })
    .exhaustive();
}

/** What a step did: an access's outcome, an SBI call's return, or nothing more than its new state. */
export type StepResult =
  | { readonly kind: 'access'; readonly allowed: readonly Outcome[]; readonly outcome: Outcome }
  | { readonly kind: 'sbi'; readonly ret: SbiRet }
  | { readonly kind: 'done' };

/**
 * Run one step. An access takes the outcome `choose` picks from the allowed set
 * (a lockstep runner picks the one its model produced, after checking it is
 * allowed; a litmus runner the fresh one).
 */
export function hartsRun(
  s: HartsState,
  step: HartStep,
  choose: (allowed: readonly Outcome[], view: ReferenceState, a: AccessAction) => Outcome,
): { readonly state: HartsState; readonly result: StepResult } {
  return match(step)
    .with({ kind: 'sbi' }, ({ hart, call }) => {
      const { state, ret } = hartsSbi(s, hart, call);
      return { state, result: { kind: 'sbi', ret } as const };
    })
    .with({ kind: 'guest' }, ({ hart, action }) => {
      if (action.kind !== 'access') return { state: hartsStep(s, hart, action), result: { kind: 'done' } as const };
      const allowed = hartsAllowedOutcomes(s, hart, action);
      const outcome = choose(allowed, hartView(s, hart), action);
      return { state: hartsAccess(s, hart, action, outcome), result: { kind: 'access', allowed, outcome } as const };
    })
    .exhaustive();
}

export function describeHartStep(step: HartStep): string {
  return match(step)
    .with({ kind: 'guest' }, ({ hart, action }) => `hart ${hart}: ${describeAction(action)}`)
    .with({ kind: 'sbi' }, ({ hart, call }) => `hart ${hart}: ${describeSbiCall(call)}`)
    .exhaustive();
}
