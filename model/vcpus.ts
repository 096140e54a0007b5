/**
 * The three designs with several vCPUs (1 to 4 harts), as pure state machines
 * (docs/decisions/0015). A machine with N harts is the one-hart machine of
 * model/npt.ts or model/shadow.ts run on one hart at a time:
 *
 * - **Per hart**: what the privileged spec makes per hart. The hart's
 *   address-translation cache ("SFENCE.VMA orders only the local hart's implicit
 *   references"), vsatp and the guest's satp, SUM and MXR (per-hart CSRs), and for
 *   SSP the shadow it has loaded from the base-address buffer and which shadow
 *   pages are in sync *for it*.
 * - **Shared**: host memory (guest RAM through the p2m, and the hypervisor's table
 *   pool), the p2m and dirty log, the G-stage table (one VMID per VM), and for TSP
 *   and SSP one set of shadow pages and one buffer per VM, used by every vCPU.
 *
 * A step names its hart (`VcpuStep`: spec/harts.ts's `HartStep`, plus a host event
 * on the hart whose hypervisor thread makes it). The hart's own state is swapped
 * into the one-hart state, the one-hart step runs unchanged, and its per-hart part
 * is swapped out again. What the step owes the other harts follows:
 *
 * - every HFENCE the hypervisor issued for a change of the shared tables (a
 *   G-stage change under NPT; a shadow change under TSP and SSP, not the fence
 *   that forwards the guest's own SFENCE.VMA) is run on every other hart that may
 *   cache something (its TLB is not empty: the hypervisor's "ran since its last
 *   flush" mask), through an IPI each (H extension: HFENCE.GVMA/VVMA act on the
 *   local hart only);
 * - SSP: a shadow page whose contents changed while another hart's loaded shadow
 *   did not reach it is out of sync for that hart (it could not have cached what
 *   was read then), and is synced before that hart uses it, as a page a fence left
 *   unsync is synced before the one hart uses it (decision 0009);
 * - an SBI remote fence (spec/sbi.ts) is one step: the calling hart traps (cause
 *   10, ecall from VS; where it lands is the design's medeleg[10]), and every hart
 *   it names gets what its own SFENCE.VMA over the range would do, the remote ones
 *   through an IPI each.
 *
 * With one hart the machine is the one-hart machine, step for step.
 */
import { match } from 'ts-pattern';
import { type Gva, PAGE_SHIFT, gva, isCanonicalSv39 } from '../spec/address.ts';
import type { GuestConfig } from '../spec/config.ts';
import { type ConcreteTlb, tlbFence } from '../spec/concrete-tlb.ts';
import type { HartId, HartStep } from '../spec/harts.ts';
import { type Memory, pageWords, readWord } from '../spec/memory.ts';
import { type Delegation, type Mode, type Trap, bits, costClass, takeTrap } from '../spec/privilege.ts';
import { isValidPointer, ptePpn } from '../spec/pte.ts';
import {
  type FenceRange, SBI_ERR_INVALID_PARAM, SBI_SUCCESS, type SbiCall, type SbiRet, callAsid, fenceRange, selectHarts,
} from '../spec/sbi.ts';
import { hartGFence, type TwoStageTlb } from '../spec/two-stage-tlb.ts';
import { CAUSE } from '../spec/walk.ts';
import type { HostEvent, HostState } from './host.ts';
import type {
  HartEvent, HostTranslationView, Machine, MachineEvent, ModelEvent, ModelName, Observation, StepResult,
} from './machine.ts';
import { NPT_VMID, type NptState, npt } from './npt.ts';
import { type ShadowPolicy, type ShadowState, shadowMachine } from './shadow.ts';
import { shadowPte } from './shadow-mmu.ts';
import { sspPolicy } from './ssp.ts';
import { tspPolicy } from './tsp.ts';

/** One step of a machine with several harts: a guest instruction or SBI call (spec/harts.ts), or a host event made on `hart`. */
export type VcpuStep = HartStep | { readonly kind: 'host'; readonly hart: HartId; readonly event: HostEvent };

/** What happened across harts in a step (counted by the several-hart runner). */
export type CrossHartEvent =
  /** Another hart ran fences this step owed it (through an IPI). */
  | 'remote-flush'
  /** A shadow page another hart's loaded shadow reaches changed: that hart walks the new entries from now on. */
  | 'resync-seen-by-other-hart'
  /** A shadow page changed that another hart's loaded shadow does not reach: it is out of sync for that hart. */
  | 'unsync-for-other-hart';

export interface VcpuStepResult<S> {
  readonly state: S;
  /** Non-null exactly for accesses. */
  readonly observation: Observation | null;
  /** Non-null exactly for SBI calls. */
  readonly ret: SbiRet | null;
  /** Every trap the step cost, on any hart (the remote harts' IPIs included). */
  readonly traps: readonly Trap[];
  readonly events: readonly ModelEvent[];
  readonly cross: readonly CrossHartEvent[];
  readonly walkRefs: number;
  /** What each one-hart step did, with the hart it ran on (SBI calls run one per named hart and fence). */
  readonly parts: readonly VcpuPart[];
  /** The fences an IPI ran on another hart's hardware for this step (for the hart-legality property), in the order they ran. */
  readonly remote: readonly { readonly hart: HartId; readonly events: readonly HartEvent[] }[];
}

/** One one-hart step a several-hart step ran: the hart, the event it ran there, what it did. */
export interface VcpuPart {
  readonly hart: HartId;
  readonly event: MachineEvent;
  readonly result: StepResult<unknown>;
}

export interface VcpuState<S, H> {
  /**
   * The one-hart state holding what every hart shares (its per-hart fields are those of
   * the hart that ran last, and mean nothing: `harts` has each hart's own).
   */
  readonly shared: S;
  readonly harts: readonly H[];
}

/** How a one-hart state splits into what is shared and what is one hart's. */
interface HartSplit<S, H> {
  readonly hartOf: (s: S) => H;
  /** The one-hart state of a hart: the shared state with its own fields; `others` are the other harts' fields. */
  readonly withHart: (s: S, h: H, others: readonly H[]) => S;
  /** The fences a step owes the other harts: the hart events that changed shared tables. */
  readonly owed: (r: StepResult<S>) => readonly HartEvent[];
  /** Another hart after a step of hart `h`: the owed fences run on it (if `flush`), its sync state updated. */
  readonly settle: (before: S, after: S, other: H, owed: readonly HartEvent[], flush: boolean) => Settled<H>;
  readonly keepTlb: (h: H, old: H) => H;
  /** Every cached translation of the hart that ends in a host frame, with the shared tables' (isolation). */
  readonly translations: (s: S) => readonly HostTranslationView[];
  readonly host: (s: S) => HostState;
  readonly tableFrames: (s: S) => ReadonlySet<bigint>;
}

/** Another hart after a step: its state, the fences run on it (none unless `flushed`, each seeing memory after the step), what it saw. */
interface Settled<H> {
  readonly hart: H;
  readonly flushed: boolean;
  readonly fences: readonly HartEvent[];
  readonly cross: readonly CrossHartEvent[];
}

/** Options a seeded variant changes (model/vcpu-variants.ts); the designs use the defaults. */
export interface VcpuOptions<S> {
  /** Run the fences a shared-table change owes on the other harts (false: the current hart only). */
  readonly broadcast: boolean;
  /** An SBI remote fence flushes the named remote harts' TLBs (false: their TLBs stay as they were). */
  readonly remoteSbiFlush: boolean;
  /** The one-hart machine whose SFENCE.VMA serves a hart's part of an SBI remote fence (default: the design's own). */
  readonly remoteFence?: Machine<S>;
  /** SSP: keep which shadow pages are in sync per hart (false: one flag, as if every hart saw every sync). */
  readonly perHartSync?: boolean;
  /** Where an ecall from VS lands (medeleg[10]); default: HS for NPT and TSP, M for SSP (decision 0015). */
  readonly sbiTo?: 'M' | 'HS';
}

const DEFAULT_OPTIONS = { broadcast: true, remoteSbiFlush: true } as const;

export interface VcpuMachine<S, H> {
  readonly name: ModelName;
  readonly title: string;
  /** The delegation a guest runs under: the one-hart design's, with medeleg[10] as the design routes SBI calls. */
  readonly delegation: Delegation;
  /** The one-hart machine each hart runs. */
  readonly base: Machine<S>;
  readonly init: (cfg: GuestConfig, guestMemory: Memory, harts: number) => VcpuState<S, H>;
  readonly step: (s: VcpuState<S, H>, step: VcpuStep) => VcpuStepResult<VcpuState<S, H>>;
  readonly view: {
    readonly host: (s: VcpuState<S, H>) => HostState;
    readonly tableFrames: (s: VcpuState<S, H>) => ReadonlySet<bigint>;
    /** Every hart's cached translations to host frames and the shared tables' (each labelled with its hart). */
    readonly hostTranslations: (s: VcpuState<S, H>) => readonly HostTranslationView[];
    /** Hart `hart`'s one-hart state (for a one-hart view of it). */
    readonly hart: (s: VcpuState<S, H>, hart: HartId) => S;
  };
}

/** A several-hart machine whose state types are hidden, as the runner holds it. */
export type AnyVcpuMachine = VcpuMachine<unknown, unknown>;
export const eraseVcpu = <S, H>(m: VcpuMachine<S, H>): AnyVcpuMachine => m as unknown as AnyVcpuMachine;

/**
 * Most pages a ranged remote fence fences one by one; a larger range is fenced as the
 * whole address space of its scope (OpenSBI turns a range above its flush limit into
 * a full flush; fencing more only removes outcomes, decision 0014).
 */
export const RANGE_PAGES_MAX = 8n;

/**
 * The SFENCE.VMA operands that carry out a hart's part of a remote fence: rs1 = x0
 * for the whole address space (or a range over RANGE_PAGES_MAX pages), else rs1 = the
 * page of every canonical address the range touches (a non-canonical rs1 fences
 * nothing); rs2 = the call's ASID (FID #2) or x0 (FID #1). SBI spec, "RFENCE Extension".
 */
export function rangeFences(range: FenceRange, asid: number | null): { readonly rs1: Gva | null; readonly rs2: number | null }[] {
  return match(range)
    .with({ kind: 'all' }, () => [{ rs1: null, rs2: asid }])
    .with({ kind: 'addresses' }, ({ intervals }) => {
      const spans = intervals.map((r) => ({ lo: r.lo >> PAGE_SHIFT, hi: r.hi >> PAGE_SHIFT }));
      const pages = spans.reduce((n, r) => n + (r.hi - r.lo + 1n), 0n);
      if (pages > RANGE_PAGES_MAX) return [{ rs1: null, rs2: asid }];
      const out: { rs1: Gva | null; rs2: number | null }[] = [];
      for (const r of spans) {
        for (let p = r.lo; p <= r.hi; p++) {
          const va = gva(p << PAGE_SHIFT);
          if (isCanonicalSv39(va)) out.push({ rs1: va, rs2: asid });
        }
      }
      return out;
    })
    .exhaustive();
}

/** The IPI a remote hart takes to run fences for `handler`: a software interrupt to M (SSP's M-mode path) or to HS (a VM exit). */
function ipi(handler: 'M' | 'HS'): Trap {
  // Interrupt causes 3 (machine software) and 1 (supervisor software); the guest was running (VS).
  const to: Mode = handler;
  return { cause: handler === 'M' ? 3 : 1, from: 'VS', to, cost: costClass('VS', to), reason: 'remote-fence-ipi' };
}

function vcpuMachine<S, H>(
  base: Machine<S>, split: HartSplit<S, H>, sbiDelegation: Delegation, options: VcpuOptions<S>,
): VcpuMachine<S, H> {
  const remoteFence = options.remoteFence ?? base;
  const others = (s: VcpuState<S, H>, hart: HartId): H[] => s.harts.filter((_h, i) => i !== hart);
  const hartState = (s: VcpuState<S, H>, hart: HartId): S => {
    const h = s.harts[hart];
    if (h === undefined) throw new RangeError(`no hart ${hart}: this machine has harts 0 to ${s.harts.length - 1}`);
    return split.withHart(s.shared, h, others(s, hart));
  };

  /** Run one one-hart step on `hart`, then settle the other harts. `handler`: where the hypervisor ran (for the IPIs' cost). */
  const runOn = (s: VcpuState<S, H>, hart: HartId, e: MachineEvent, m: Machine<S>) => {
    const before = hartState(s, hart);
    const r = m.step(before, e);
    const owed = split.owed(r);
    const traps: Trap[] = [];
    const cross: CrossHartEvent[] = [];
    const remote: { hart: HartId; events: readonly HartEvent[] }[] = [];
    const handler: 'M' | 'HS' = e.kind === 'hostRemap' || e.kind === 'hostWriteProtect' || e.kind === 'hostUnprotect'
      || r.traps.some((t) => t.to === 'HS') || !r.traps.some((t) => t.to === 'M') ? 'HS' : 'M';
    const resynced = r.events.includes('shadow-resync');
    const harts = s.harts.map((h, i) => {
      if (i === hart) return split.hartOf(r.state);
      const settled = split.settle(before, r.state, h, owed, options.broadcast);
      if (settled.flushed) {
        traps.push(ipi(handler));
        cross.push('remote-flush');
        remote.push({ hart: i, events: settled.fences });
      }
      // A change another hart's shadow reaches counts as a resync it sees only when the step resynced (not a fill).
      cross.push(...settled.cross.filter((c) => c !== 'resync-seen-by-other-hart' || resynced));
      return settled.hart;
    });
    return { next: { shared: r.state, harts }, result: r, traps, cross, remote };
  };

  const step = (s: VcpuState<S, H>, st: VcpuStep): VcpuStepResult<VcpuState<S, H>> =>
    match(st)
      .with({ kind: 'guest' }, { kind: 'host' }, (g) => {
        const e: MachineEvent = g.kind === 'guest' ? g.action : g.event;
        const { next, result, traps, cross, remote } = runOn(s, g.hart, e, base);
        return {
          state: next, observation: result.observation, ret: null, traps: [...result.traps, ...traps], events: result.events, cross,
          walkRefs: result.walkRefs, parts: [{ hart: g.hart, event: e, result: result as StepResult<unknown> }], remote,
        };
      })
      .with({ kind: 'sbi' }, ({ hart, call }) => sbi(s, hart, call))
      .exhaustive();

  /**
   * An SBI remote fence from `caller`: the ecall traps (cause 10 from VS, routed by
   * medeleg[10]); the hart list is checked first (an invalid one fences no hart,
   * decision 0014); then every named hart runs what its own SFENCE.VMA over the range
   * does (the hypervisor's HFENCE.VVMA, and under SSP the sync), a remote one after an
   * IPI from the mode that took the call. The call returns once all are done.
   */
  const sbi = (s: VcpuState<S, H>, caller: HartId, call: SbiCall): VcpuStepResult<VcpuState<S, H>> => {
    hartState(s, caller);
    const callTrap = takeTrap(CAUSE.ecallFromVS, 'VS', sbiDelegation, 'sbi-call');
    const handler: 'M' | 'HS' = callTrap.to === 'M' ? 'M' : 'HS';
    const traps: Trap[] = [callTrap];
    const selection = selectHarts(call.hartMask, call.hartMaskBase, s.harts.length);
    if (selection.kind === 'invalid-param') {
      return { state: s, observation: null, ret: { error: SBI_ERR_INVALID_PARAM, value: 0n }, traps, events: [], cross: [], walkRefs: 0, parts: [], remote: [] };
    }
    const cfg = split.host(s.shared).cfg;
    const asid = callAsid(call);
    const fences = rangeFences(fenceRange(call.startAddr, call.size), asid === null ? null : Number(BigInt.asUintN(cfg.asidLen, asid)));
    let state = s;
    const events: ModelEvent[] = [];
    const cross: CrossHartEvent[] = [];
    const parts: VcpuPart[] = [];
    const remote: { hart: HartId; events: readonly HartEvent[] }[] = [];
    let walkRefs = 0;
    for (const g of selection.harts) {
      const old = state.harts[g] as H;
      if (g !== caller && fences.length > 0) {
        traps.push(ipi(handler));
        cross.push('remote-flush');
      }
      // A variant that sends the remote hart no IPI leaves its TLB as it was: its hardware ran none of the part's fences.
      const unflushed = g !== caller && !options.remoteSbiFlush;
      for (const f of fences) {
        const event: MachineEvent = { kind: 'sfence', rs1: f.rs1, rs2: f.rs2 };
        const run = runOn(state, g, event, remoteFence);
        // The handler runs the fence itself: the one-hart step's trap for an intercepted SFENCE.VMA is not taken.
        traps.push(...run.traps);
        events.push(...run.result.events);
        cross.push(...run.cross);
        remote.push(...run.remote);
        walkRefs += run.result.walkRefs;
        const result = unflushed ? { ...run.result, hart: run.result.hart.filter((e) => e.kind !== 'hfence-vvma') } : run.result;
        parts.push({ hart: g, event, result: result as StepResult<unknown> });
        state = run.next;
      }
      if (unflushed) state = { ...state, harts: state.harts.map((h, i) => (i === g ? split.keepTlb(h, old) : h)) };
    }
    return { state, observation: null, ret: { error: SBI_SUCCESS, value: 0n }, traps, events, cross, walkRefs, parts, remote };
  };

  return {
    name: base.name,
    title: base.title,
    delegation: sbiDelegation,
    base,
    init: (cfg, mem, n) => {
      if (!Number.isInteger(n) || n < 1 || n > 4) throw new RangeError(`harts must be 1 to 4, got ${n}`);
      const shared = base.init(cfg, mem);
      return { shared, harts: Array.from({ length: n }, () => split.hartOf(shared)) };
    },
    step,
    view: {
      host: (s) => split.host(s.shared),
      tableFrames: (s) => split.tableFrames(s.shared),
      hostTranslations: (s) => s.harts.flatMap((_h, i) => split.translations(hartState(s, i)).map((t) => ({ ...t, what: `hart ${i}: ${t.what}` }))),
      hart: hartState,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Shadow paging (TSP, SSP): one set of shadow pages per VM, per-hart TLBs and loaded shadows
// ---------------------------------------------------------------------------------------------

/** A hart of a shadow-paging machine: its CSRs, the shadow it has loaded, its TLB, and (SSP) the sps out of sync for it. */
export interface ShadowHart {
  readonly guestSatp: ShadowState['guestSatp'];
  readonly sum: boolean;
  readonly mxr: boolean;
  readonly active: string | null;
  readonly vsatp: ShadowState['vsatp'];
  readonly tlb: ConcreteTlb;
  /** SSP: frames of sps whose contents this hart could not have cached (decision 0015); TSP: always empty. */
  readonly unsync: ReadonlySet<bigint>;
}

const tlbEmpty = (t: ConcreteTlb): boolean => [...t.values()].every((es) => es.length === 0);

/** The sps a walk from `root` reaches in the shadow tables now. */
function reachable(s: ShadowState, root: bigint | undefined): Set<bigint> {
  const seen = new Set<bigint>();
  const visit = (frame: bigint): void => {
    if (seen.has(frame) || !s.mmu.pages.has(frame)) return;
    seen.add(frame);
    for (const slot of s.mmu.ghosts.get(frame)?.keys() ?? []) {
      const pte = shadowPte(s, frame, slot);
      if (isValidPointer(pte)) visit(ptePpn(pte));
    }
  };
  if (root !== undefined) visit(root);
  return seen;
}

/**
 * Whether a step only added shadow entries (not-present to present) and freed no sp.
 * Another hart can then cache nothing the change made wrong: an entry it cached as
 * not present faults, and the hidden-fault handler finds the entry fixed and fences
 * that hart alone (model/shadow.ts `shadowAccess`), as KVM flushes no remote TLB
 * for a new spte. A frame new to the shadow was cleared when allocated, and every
 * hart was flushed when it was freed.
 */
function onlyAdditions(before: ShadowState, after: ShadowState): boolean {
  if (before.mmu === after.mmu && before.host.mem === after.host.mem) return true;
  for (const frame of before.mmu.pages.keys()) if (!after.mmu.pages.has(frame)) return false;
  for (const [frame, sp] of after.mmu.pages) {
    if (before.mmu.pages.get(frame)?.role !== sp.role) continue;
    const was = pageWords(before.host.mem, frame);
    const now = pageWords(after.host.mem, frame);
    if (was === now) continue;
    for (const [slot, w] of was) if (w !== 0n && now.get(slot) !== w) return false;
  }
  return true;
}

/**
 * The pages out of sync for a hart, closed upwards outside what its loaded shadow
 * reaches (`reach`): a page that points to one of them is out of sync for it too.
 * Linking a page syncs it first if it is out of sync for some hart, and a sync goes
 * down through its pointers, syncing each child out of sync (model/shadow-mmu.ts
 * `setEntry`); so however a page comes within another hart's reach, every page
 * below it that hart could not have cached is synced on the way.
 */
function withUnsyncAncestors(s: ShadowState, unsync: Set<bigint>, reach: ReadonlySet<bigint>): Set<bigint> {
  for (let grew = true; grew;) {
    grew = false;
    for (const frame of s.mmu.pages.keys()) {
      if (unsync.has(frame) || reach.has(frame)) continue;
      for (const slot of s.mmu.ghosts.get(frame)?.keys() ?? []) {
        const pte = shadowPte(s, frame, slot);
        if (isValidPointer(pte) && unsync.has(ptePpn(pte))) {
          unsync.add(frame);
          grew = true;
          break;
        }
      }
    }
  }
  return unsync;
}

/** Frames whose sp is new or whose entries were written in a step. */
function changedPages(before: ShadowState, after: ShadowState): bigint[] {
  if (before.mmu === after.mmu) return [];
  const out: bigint[] = [];
  for (const [frame, sp] of after.mmu.pages) {
    if (before.mmu.pages.get(frame)?.role !== sp.role || before.mmu.ghosts.get(frame) !== after.mmu.ghosts.get(frame)) out.push(frame);
  }
  return out;
}

function shadowSplit(policy: ShadowPolicy, base: Machine<ShadowState>, sharedSyncBug: boolean): HartSplit<ShadowState, ShadowHart> {
  // SSP's shadows lag the guest's tables: which sps are in sync is a per-hart fact. TSP's are always in sync.
  const perHartSync = !policy.writeProtectPageTables && !sharedSyncBug;
  return {
    hartOf: (s) => ({
      guestSatp: s.guestSatp, sum: s.sum, mxr: s.mxr, active: s.active, vsatp: s.vsatp, tlb: s.tlb,
      unsync: perHartSync ? new Set([...s.mmu.pages.values()].filter((sp) => sp.unsync).map((sp) => sp.frame)) : new Set(),
    }),
    withHart: (s, h, rest) => {
      let pages = s.mmu.pages;
      if (perHartSync) {
        for (const [frame, sp] of s.mmu.pages) {
          const want = h.unsync.has(frame);
          if (sp.unsync === want) continue;
          if (pages === s.mmu.pages) pages = new Map(pages);
          (pages as Map<bigint, typeof sp>).set(frame, { ...sp, unsync: want });
        }
      }
      const pinned = new Set(rest.flatMap((o) => (o.active === null ? [] : [o.active])));
      const mmu = pages === s.mmu.pages ? s.mmu : { ...s.mmu, pages };
      const { pinned: _old, unsyncElsewhere: _u, syncedNow: _n, ...rest0 } = s;
      const hartState: ShadowState = { ...rest0, guestSatp: h.guestSatp, sum: h.sum, mxr: h.mxr, active: h.active, vsatp: h.vsatp, tlb: h.tlb, mmu };
      if (rest.length === 0) return hartState;
      if (!perHartSync) return { ...hartState, pinned };
      return { ...hartState, pinned, unsyncElsewhere: new Set(rest.flatMap((o) => [...o.unsync])), syncedNow: new Set() };
    },
    // A fence that forwards the guest's own SFENCE.VMA is this hart's; every other HFENCE.VVMA pays for a shadow change.
    owed: (r) => r.hart.filter((e) => e.kind === 'hfence-vvma' && e.forGuestFence !== true),
    settle: (before, after, other, owed, flush) => {
      const cross: CrossHartEvent[] = [];
      let unsync = other.unsync;
      const changed = changedPages(before, after);
      if (perHartSync) {
        const reach = reachable(after, other.vsatp?.root);
        // A page synced in the step holds the guest's tables as they are now: in sync for a hart that reaches it (it
        // walks what is in memory), not for one that does not (it could not have cached that). A freed page is gone.
        const kept = [...other.unsync].filter((f) => after.mmu.pages.has(f) && !(reach.has(f) && (after.syncedNow?.has(f) ?? false)));
        const behind = changed.filter((f) => !reach.has(f));
        if (changed.some((f) => reach.has(f))) cross.push('resync-seen-by-other-hart');
        if (behind.length > 0) cross.push('unsync-for-other-hart');
        const now = withUnsyncAncestors(after, new Set([...kept, ...behind]), reach);
        unsync = now.size === other.unsync.size && [...now].every((f) => other.unsync.has(f)) ? other.unsync : now;
      } else if (changed.length > 0 && other.vsatp !== null) {
        const reach = reachable(after, other.vsatp.root);
        if (changed.some((f) => reach.has(f))) cross.push('resync-seen-by-other-hart');
      }
      if (!flush || owed.length === 0 || tlbEmpty(other.tlb) || onlyAdditions(before, after)) {
        return { hart: unsync === other.unsync ? other : { ...other, unsync }, flushed: false, fences: [], cross };
      }
      const read = (a: bigint) => readWord(after.host.mem, a);
      let tlb = other.tlb;
      const fences: HartEvent[] = [];
      // Every rs1=x0 fence subsumes the others of its scope; run them in the order they were issued.
      for (const e of owed) {
        if (e.kind !== 'hfence-vvma') continue;
        tlb = tlbFence(tlb, e.rs1, e.rs2, read);
        fences.push({ kind: 'hfence-vvma', mem: after.host.mem, rs1: e.rs1, rs2: e.rs2 });
      }
      return { hart: { ...other, unsync, tlb }, flushed: true, fences, cross };
    },
    keepTlb: (h, old) => ({ ...h, tlb: old.tlb }),
    translations: (s) => base.view.hostTranslations(s),
    host: (s) => s.host,
    tableFrames: (s) => s.host.tableFrames,
  };
}

// ---------------------------------------------------------------------------------------------
// Nested paging: one G-stage table per VM (VMID-tagged), per-hart TLBs
// ---------------------------------------------------------------------------------------------

export interface NptHart {
  readonly vsatp: NptState['vsatp'];
  readonly sum: boolean;
  readonly mxr: boolean;
  readonly tlb: TwoStageTlb;
}

const twoStageEmpty = (t: TwoStageTlb): boolean =>
  [...t.vs.values()].every((c) => tlbEmpty(c)) && [...t.g.values()].every((es) => es.length === 0) && [...t.combined.values()].every((es) => es.length === 0);

const nptSplit: HartSplit<NptState, NptHart> = {
  hartOf: (s) => ({ vsatp: s.vsatp, sum: s.sum, mxr: s.mxr, tlb: s.tlb }),
  withHart: (s, h) => ({ ...s, vsatp: h.vsatp, sum: h.sum, mxr: h.mxr, tlb: h.tlb }),
  // Every HFENCE.GVMA pays for a change of the shared G-stage table (a remap, a write protection, a split or collapse).
  owed: (r) => r.hart.filter((e) => e.kind === 'hfence-gvma'),
  settle: (_before, after, other, owed, flush) => {
    if (!flush || owed.length === 0 || twoStageEmpty(other.tlb)) return { hart: other, flushed: false, fences: [], cross: [] };
    let tlb = other.tlb;
    const fences: HartEvent[] = [];
    for (const e of owed) {
      if (e.kind !== 'hfence-gvma') continue;
      tlb = hartGFence(tlb, e.rs1, NPT_VMID, (a) => readWord(after.host.mem, a));
      fences.push({ kind: 'hfence-gvma', mem: after.host.mem, rs1: e.rs1, rs2: NPT_VMID });
    }
    return { hart: { ...other, tlb }, flushed: true, fences, cross: [] };
  },
  keepTlb: (h, old) => ({ ...h, tlb: old.tlb }),
  translations: (s) => npt.view.hostTranslations(s),
  host: (s) => s.host,
  tableFrames: (s) => s.host.tableFrames,
};

/**
 * SBI routing (decision 0015): NPT and TSP delegate ecall from VS to HS
 * (medeleg[10]=1), where the hypervisor is the guest's SBI implementation, as KVM
 * is; SSP keeps it in M-mode (medeleg[10]=0), so a remote fence is served on the
 * M-mode fast path that already serves SFENCE.VMA.
 */
const toHs = (d: Delegation): Delegation => ({ ...d, medeleg: d.medeleg | bits(CAUSE.ecallFromVS) });

export function nptVcpus(options: VcpuOptions<NptState> = DEFAULT_OPTIONS): VcpuMachine<NptState, NptHart> {
  return vcpuMachine(npt, nptSplit, toHs(npt.delegation), options);
}

export function shadowVcpus(policy: ShadowPolicy, options: VcpuOptions<ShadowState> = DEFAULT_OPTIONS): VcpuMachine<ShadowState, ShadowHart> {
  const base = shadowMachine(policy);
  const delegation = (options.sbiTo ?? (policy.name === 'ssp' ? 'M' : 'HS')) === 'M' ? policy.delegation : toHs(policy.delegation);
  return vcpuMachine(base, shadowSplit(policy, base, options.perHartSync === false), delegation, options);
}

/** The designs' options: shared-table fences reach every hart, SBI remote fences flush the harts they name. */
export const DEFAULT_VCPU_OPTIONS = DEFAULT_OPTIONS;

export const VCPU_MODELS: Readonly<Record<ModelName, AnyVcpuMachine>> = {
  npt: eraseVcpu(nptVcpus()),
  tsp: eraseVcpu(shadowVcpus(tspPolicy)),
  ssp: eraseVcpu(shadowVcpus(sspPolicy)),
};
