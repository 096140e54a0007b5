/**
 * What the lockstep runner (run.ts) knows of one step, handed to every property:
 * the event, the machine and reference states on both sides of it, what the
 * machine did, and for an access what the architecture allowed and what the
 * machine's observation stands for in the guest's terms. Properties read records;
 * they never step a machine or the reference themselves.
 */
import { type Gpa, hex } from '../spec/address.ts';
import { pteD } from '../spec/pte.ts';
import { type AccessAction, type Outcome, type Satp, describeAction } from '../spec/guest-action.ts';
import type { ReferenceState } from '../spec/reference.ts';
import type { HostState } from '../model/host.ts';
import type { AnyMachine, MachineEvent, Observation, StepResult } from '../model/machine.ts';
import type { GuestKind } from './commands.ts';

/**
 * What a machine's access observation stands for in guest-physical terms
 * (decision 0005: the guest-physical word reached is recovered through the p2m).
 */
export type Reached =
  | { readonly kind: 'guest'; readonly observation: Observation; readonly outcome: Outcome; readonly key: string }
  /** The observation reached host frame `hpn`, which backs no guest page. */
  | { readonly kind: 'unbacked'; readonly observation: Observation; readonly hpn: bigint }
  /** The machine broke its contract: an access with no observation. */
  | { readonly kind: 'missing' };

export interface AccessRecord {
  readonly action: AccessAction;
  /** The reference's allowed set before the step, and each outcome's key (what messages and traces print). */
  readonly allowed: readonly Outcome[];
  readonly allowedKeys: readonly string[];
  readonly reached: Reached;
  /** The allowed outcome the machine produced; undefined if it produced none of them. */
  readonly match: Outcome | undefined;
  /** The allowed set has more than one element. */
  readonly choice: boolean;
  /**
   * The machine's outcome is the fresh one (a walk of current memory): with no
   * choice, exactly when it is allowed; null when it is not guest-physical.
   */
  readonly fresh: boolean | null;
}

export interface StepRecord {
  /** The step's index in the program (0 is the boot satp write). */
  readonly step: number;
  readonly event: MachineEvent;
  readonly guest: GuestKind;
  /** The machine, for its name, its delegation and its `view` into the opaque states. */
  readonly machine: AnyMachine;
  readonly before: unknown;
  readonly after: unknown;
  readonly result: StepResult<unknown>;
  /** The machine's host side on both sides of the step (machine.view.host of before and after). */
  readonly hostBefore: HostState;
  readonly hostAfter: HostState;
  /**
   * The page-table pages the hypervisor protected before the step: made on the
   * first call only (a shadow model collects them from every shadow leaf, and
   * few properties ask).
   */
  readonly protectedBefore: () => ReadonlySet<bigint>;
  readonly refBefore: ReferenceState;
  /**
   * The reference advanced by the machine's own outcome (decision 0005); null when
   * the reference cannot follow the step (an access whose outcome is not guest-physical).
   */
  readonly refAfter: ReferenceState | null;
  /** Non-null exactly for accesses. */
  readonly access: AccessRecord | null;
  /** The satp the guest last wrote (ASID masked as the hart holds it), this step included. */
  readonly satpWritten: Satp;
}

/**
 * Why the reference cannot follow an access, or null if it can: its outcome is
 * not guest-physical. Such a step is the last of a run.
 */
export function unfollowable(a: AccessRecord): string | null {
  if (a.reached.kind === 'missing') return 'the machine reported no observation for an access';
  if (a.reached.kind === 'unbacked') return `${describeAction(a.action)} reached host frame ${hex(a.reached.hpn)}, which backs no guest page`;
  return null;
}

/**
 * Svadu, step 7: a store sets D in the leaf it translates through unless that leaf
 * already has D set, and the update is made against memory, never a cached copy.
 * So when no translation the architecture allows this store reaches its word
 * through a leaf with D set (every allowed outcome at that word carries a D update),
 * D must be set after the step in one of the PTEs those outcomes update: the PTE
 * addresses, or null when the store may leave D as it was (Svade, a fault, an
 * allowed stale leaf with D set, or a store onto the PTE word itself).
 */
export function dirtyRequired(a: AccessRecord): readonly Gpa[] | null {
  if (a.action.access !== 'store' || a.reached.kind !== 'guest' || a.reached.outcome.kind !== 'ok') return null;
  const pa = a.reached.outcome.pa;
  const here = a.allowed.filter((o) => o.kind === 'ok' && o.pa === pa);
  const addrs: Gpa[] = [];
  for (const o of here) {
    const u = o.adUpdate;
    if (u == null || !pteD(u.pte) || u.addr === (pa & ~7n)) return null;
    addrs.push(u.addr);
  }
  return addrs.length === 0 ? null : addrs;
}
