/**
 * Random programs of several harts (docs/decisions/0015). A command names its
 * hart; it is resolved, as a one-hart command is (properties/commands.ts), against
 * the guest's bookkeeping: one memory every hart shares, and per hart the satp it
 * wrote and the pages it touched. A resolved program is plain data: every step
 * names its hart.
 *
 * - **Layouts**: the harts boot as threads of one process (one root, one ASID), as
 *   different processes (a root and ASID each), or as different processes under
 *   one ASID (ASIDs are local to a hart, decision 0014); any hart may switch later.
 * - **Commands**: any one-hart command on any hart (accesses, PTE stores and the OS
 *   idioms, satp writes, fences, host events on the hart whose hypervisor thread
 *   makes them); SBI remote fences (both calls, masks that name every hart, some,
 *   none, miss a hart or name one that does not exist; ranges of a page, two pages,
 *   nothing, a wrap past the top, almost everything, and both whole-space
 *   encodings); and a race: one hart touches a page, another changes its PTE, then
 *   fences it remotely (naming the first hart, every hart, or every hart but the
 *   first) or not, and the first touches it again.
 * - **Well-behaved programs**: threads or processes (one ASID per root, never one
 *   ASID for two roots), the one-hart well-behaved commands, and a TLB shootdown
 *   for every fence: a hart that changes a PTE fences it locally and, at once,
 *   through an SBI remote fence naming every other hart (as Linux's
 *   flush_tlb_range does), before any other hart runs. Every allowed set is then a
 *   single outcome on every hart (the `determinism` property's claim).
 */
import fc from 'fast-check';
import { match } from 'ts-pattern';
import { type Gva, PAGE_SHIFT, gva } from '../spec/address.ts';
import type { SbiCall } from '../spec/sbi.ts';
import type { AccessKind } from '../spec/walk.ts';
import type { MachineEvent } from '../model/machine.ts';
import type { VcpuStep } from '../model/vcpus.ts';
import { type Command, type GuestBookkeeping, type GuestKind, bootBookkeeping, commandArb, leafValueArb, mappedPage, resolve } from './commands.ts';
import type { HartsProgram } from './harts-run.ts';
import { ASIDS, BOOT_ASID_OF_ROOT, ROOTS, VAS } from './pools.ts';

export type Layout = 'threads' | 'processes' | 'same-asid';

/** Which harts a call names (the SBI hart list, decision 0014). */
export type MaskSpec =
  | { readonly kind: 'all' }
  /** hart_mask_base = base, hart_mask = bits (may name harts that do not exist: SBI_ERR_INVALID_PARAM). */
  | { readonly kind: 'bits'; readonly base: number; readonly bits: number };

/** What range a call covers. */
export type RangeSpec = 'page' | 'two-pages' | 'empty' | 'wrap' | 'almost-all' | 'whole-zero' | 'whole-ones';

export type HartCommand =
  | { readonly kind: 'on'; readonly hart: number; readonly command: Command }
  | { readonly kind: 'sbi'; readonly hart: number; readonly asid: number | 'current' | null; readonly mask: MaskSpec; readonly range: RangeSpec; readonly va: number }
  | {
      readonly kind: 'race'; readonly storer: number; readonly accessor: number; readonly va: number; readonly value: bigint;
      readonly fence: 'none' | 'accessor' | 'all' | 'all-but-accessor'; readonly access: AccessKind;
    }
  /** One hart touches a page, another hart's hypervisor thread remaps or write-protects its frame, the first touches it again. */
  | { readonly kind: 'hostRace'; readonly accessor: number; readonly host: number; readonly va: number; readonly op: 'hostRemap' | 'hostWriteProtect'; readonly access: AccessKind }
  /** Threads: harts touch one page in turn (in their own address spaces). */
  | { readonly kind: 'share'; readonly harts: readonly number[]; readonly va: number; readonly access: AccessKind }
  /**
   * A hart loads an address space after another hart ran in it and its PTE changed
   * without a fence: hart `runner` switches to space `space` and touches the page;
   * hart `changer` changes its PTE there; hart `loader` switches to the space and
   * touches the page (it never cached that walk: only the new PTE is allowed).
   */
  | { readonly kind: 'lateLoad'; readonly runner: number; readonly changer: number; readonly loader: number; readonly space: number; readonly va: number; readonly value: bigint };

const ONES = (1n << 64n) - 1n;

const hartArb = (harts: number) => fc.integer({ min: 0, max: harts - 1 });

function maskArb(harts: number): fc.Arbitrary<MaskSpec> {
  return fc.oneof(
    { arbitrary: fc.constant({ kind: 'all' as const }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('bits' as const), base: fc.constant(0), bits: fc.integer({ min: 0, max: (1 << harts) - 1 }) }), weight: 6 },
    // A base past the last hart, or a mask bit past it: an invalid hart list.
    { arbitrary: fc.record({ kind: fc.constant('bits' as const), base: fc.integer({ min: 0, max: harts }), bits: fc.integer({ min: 0, max: (1 << (harts + 1)) - 1 }) }), weight: 1 },
  );
}

/** A well-behaved guest's commands: the one-hart well-behaved commands on any hart, and harts touching one page in turn. */
function wellBehavedCommandArb(harts: number): fc.Arbitrary<HartCommand> {
  return fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('on' as const), hart: hartArb(harts), command: commandArb('well-behaved') }), weight: 8 },
    {
      arbitrary: fc.record({
        kind: fc.constant('share' as const), harts: fc.array(hartArb(harts), { minLength: 2, maxLength: 3 }), va: fc.integer({ min: 0, max: VAS.length - 1 }),
        access: fc.constantFrom<AccessKind>('load', 'store', 'fetch'),
      }),
      weight: 2,
    },
  );
}

export function hartCommandArb(harts: number, kind: GuestKind = 'arbitrary'): fc.Arbitrary<HartCommand> {
  if (kind === 'well-behaved') return wellBehavedCommandArb(harts);
  const vaIdx = fc.integer({ min: 0, max: VAS.length - 1 });
  return fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('on' as const), hart: hartArb(harts), command: commandArb('arbitrary') }), weight: 14 },
    {
      arbitrary: fc.record({
        kind: fc.constant('sbi' as const), hart: hartArb(harts),
        asid: fc.oneof(fc.constant(null), fc.constant(null), fc.constant('current' as const), fc.constantFrom(...ASIDS)),
        mask: maskArb(harts),
        range: fc.constantFrom<RangeSpec>('page', 'page', 'two-pages', 'empty', 'wrap', 'almost-all', 'whole-zero', 'whole-ones'),
        va: vaIdx,
      }),
      weight: 3,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('race' as const), storer: hartArb(harts), accessor: hartArb(harts), va: vaIdx, value: leafValueArb('arbitrary'),
        fence: fc.constantFrom('none' as const, 'accessor' as const, 'all' as const, 'all-but-accessor' as const),
        access: fc.constantFrom<AccessKind>('load', 'store', 'fetch'),
      }),
      weight: 3,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('hostRace' as const), accessor: hartArb(harts), host: hartArb(harts), va: vaIdx,
        op: fc.constantFrom('hostRemap' as const, 'hostWriteProtect' as const), access: fc.constantFrom<AccessKind>('load', 'store', 'store'),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('share' as const), harts: fc.array(hartArb(harts), { minLength: 2, maxLength: 3 }), va: vaIdx,
        access: fc.constantFrom<AccessKind>('load', 'store', 'fetch'),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('lateLoad' as const), runner: hartArb(harts), changer: hartArb(harts), loader: hartArb(harts),
        space: fc.integer({ min: 0, max: ROOTS.length - 1 }), va: vaIdx, value: leafValueArb('arbitrary'),
      }),
      weight: 2,
    },
  );
}

export interface HartsCommandProgram {
  readonly harts: number;
  /** Absent: arbitrary. */
  readonly guest?: GuestKind;
  readonly layout: Layout;
  readonly commands: readonly HartCommand[];
}

export function hartsProgramArb(harts: number, maxCommands: number, kind: GuestKind = 'arbitrary'): fc.Arbitrary<HartsCommandProgram> {
  return fc.record({
    harts: fc.constant(harts),
    guest: fc.constant(kind),
    // A well-behaved guest gives each root its own ASID.
    layout: kind === 'well-behaved' ? fc.constantFrom<Layout>('threads', 'processes') : fc.constantFrom<Layout>('threads', 'processes', 'same-asid'),
    commands: fc.array(hartCommandArb(harts, kind), { minLength: 1, maxLength: maxCommands, size: 'max' }),
  });
}

/**
 * A TLB shootdown: the fence a hart ran, then an SBI remote fence over the same
 * scope naming every other hart (none with one hart). rs1=x0 is the whole address
 * space (start 0, size 0); rs1=va its page; rs2 the ASID, if any (SBI spec, RFENCE).
 */
function shootdown(hart: number, harts: number, fence: Extract<MachineEvent, { kind: 'sfence' }>): VcpuStep[] {
  const others = ((1 << harts) - 1) & ~(1 << hart);
  const local: VcpuStep = { kind: 'guest', hart, action: fence };
  if (others === 0) return [local];
  const [startAddr, size] = fence.rs1 === null ? [0n, 0n] : [BigInt.asUintN(64, fence.rs1), 4096n];
  const args = { hartMask: BigInt(others), hartMaskBase: 0n, startAddr, size };
  const call: SbiCall = fence.rs2 === null ? { kind: 'remoteSfenceVma', ...args } : { kind: 'remoteSfenceVmaAsid', ...args, asid: BigInt(fence.rs2) };
  return [local, { kind: 'sbi', hart, call }];
}

/** The root and ASID hart `i` boots with. */
function bootSpace(layout: Layout, i: number): { readonly root: number; readonly asid: number } {
  return match(layout)
    .with('threads', () => ({ root: 0, asid: BOOT_ASID_OF_ROOT[0] ?? 1 }))
    .with('processes', () => ({ root: i % ROOTS.length, asid: BOOT_ASID_OF_ROOT[i % ROOTS.length] ?? 1 }))
    .with('same-asid', () => ({ root: i % ROOTS.length, asid: BOOT_ASID_OF_ROOT[0] ?? 1 }))
    .exhaustive();
}

/** An SBI remote fence's arguments (SBI spec, "RFENCE Extension"). */
function sbiCall(c: Extract<HartCommand, { kind: 'sbi' }>, g: GuestBookkeeping): SbiCall {
  const va = VAS[c.va] ?? 0n;
  const [start, size] = match(c.range)
    .returnType<readonly [bigint, bigint]>()
    .with('page', () => [va, 4096n])
    .with('two-pages', () => [va + 0xff8n, 16n])
    .with('empty', () => [va, 0n])
    .with('wrap', () => [ONES - 0xfffn, 0x2000n])
    .with('almost-all', () => [0n, ONES - 1n])
    .with('whole-zero', () => [0n, 0n])
    .with('whole-ones', () => [va, ONES])
    .exhaustive();
  const [hartMask, hartMaskBase] = c.mask.kind === 'all' ? [0n, ONES] : [BigInt(c.mask.bits), BigInt(c.mask.base)];
  const args = { hartMask, hartMaskBase, startAddr: BigInt.asUintN(64, start), size };
  if (c.asid === null) return { kind: 'remoteSfenceVma', ...args };
  return { kind: 'remoteSfenceVmaAsid', ...args, asid: BigInt(c.asid === 'current' ? g.asid : c.asid) };
}

const onHart = (hart: number, events: readonly MachineEvent[]): VcpuStep[] =>
  events.map((e) => (e.kind === 'hostRemap' || e.kind === 'hostWriteProtect' || e.kind === 'hostUnprotect' ? { kind: 'host', hart, event: e } : { kind: 'guest', hart, action: e }));

/** Resolve a program: every hart's boot satp, then each command on its hart, against the shared bookkeeping. */
export function resolveHartsProgram(p: HartsCommandProgram): HartsProgram {
  const boot = bootBookkeeping();
  let gs: GuestBookkeeping[] = Array.from({ length: p.harts }, (_v, i) => ({ ...boot, ...bootSpace(p.layout, i) }));
  const steps: VcpuStep[] = gs.map((g, i) => ({ kind: 'guest', hart: i, action: { kind: 'satp', satp: { mode: 'sv39', asid: g.asid, rootPpn: ROOTS[g.root] ?? 0n } } }));
  const kind = p.guest ?? 'arbitrary';
  /** Run a one-hart command on `hart`; the memory it leaves is every hart's. A well-behaved guest shoots every fence down. */
  const on = (hart: number, c: Command): void => {
    const g = gs[hart] as GuestBookkeeping;
    const r = resolve(c, g, kind);
    if (kind === 'arbitrary') steps.push(...onHart(hart, r.events));
    else for (const e of r.events) steps.push(...(e.kind === 'sfence' ? shootdown(hart, p.harts, e) : onHart(hart, [e])));
    gs = gs.map((o, i) => (i === hart ? r.g : { ...o, mem: r.g.mem }));
  };
  const access = (hart: number, va: number, kind: AccessKind, value: bigint): void => {
    steps.push({ kind: 'guest', hart, action: { kind: 'access', va: VAS[va] ?? gva(0n), access: kind, priv: 'S', value } });
  };
  for (const c of p.commands) {
    match(c)
      .with({ kind: 'on' }, ({ hart, command }) => on(hart, command))
      .with({ kind: 'sbi' }, (s) => {
        steps.push({ kind: 'sbi', hart: s.hart, call: sbiCall(s, gs[s.hart] as GuestBookkeeping) });
      })
      .with({ kind: 'race' }, (r) => {
        access(r.accessor, r.va, 'load', 0n);
        // The storer changes the PTE its own address space's walk of the page ends at.
        on(r.storer, { kind: 'retarget', space: 'current', va: r.va, value: r.value });
        const va = VAS[r.va] ?? 0n;
        const others = ((1 << p.harts) - 1) & ~(1 << r.accessor);
        const mask: MaskSpec | null = match(r.fence)
          .with('none', () => null)
          .with('accessor', () => ({ kind: 'bits' as const, base: r.accessor, bits: 1 }))
          .with('all', () => ({ kind: 'all' as const }))
          .with('all-but-accessor', () => ({ kind: 'bits' as const, base: 0, bits: others }))
          .exhaustive();
        if (mask !== null) {
          const g = gs[r.storer] as GuestBookkeeping;
          steps.push({ kind: 'sbi', hart: r.storer, call: sbiCall({ kind: 'sbi', hart: r.storer, asid: null, mask, range: 'page', va: r.va }, g) });
        }
        access(r.accessor, r.va, r.access, 0x5a5an ^ (va >> PAGE_SHIFT));
      })
      .with({ kind: 'hostRace' }, (h) => {
        access(h.accessor, h.va, 'load', 0n);
        const g = gs[h.accessor] as GuestBookkeeping;
        const page = mappedPage(g.mem, ROOTS[g.root] ?? 0n, VAS[h.va] ?? gva(0n));
        if (page !== null) steps.push({ kind: 'host', hart: h.host, event: { kind: h.op, gpn: page } });
        access(h.accessor, h.va, h.access, 0xa5a5n);
      })
      .with({ kind: 'share' }, (sh) => {
        for (const hart of sh.harts) access(hart, sh.va, sh.access, BigInt(hart) + 0x77n);
      })
      .with({ kind: 'lateLoad' }, (l) => {
        const asid = BOOT_ASID_OF_ROOT[l.space] ?? 1;
        on(l.runner, { kind: 'satp', root: l.space, asid: ASIDS.indexOf(asid) });
        access(l.runner, l.va, 'load', 0n);
        on(l.changer, { kind: 'retarget', space: l.space, va: l.va, value: l.value });
        on(l.loader, { kind: 'satp', root: l.space, asid: ASIDS.indexOf(asid) });
        access(l.loader, l.va, 'load', 0n);
      })
      .exhaustive();
  }
  return { harts: p.harts, ...(kind === 'well-behaved' ? { guest: kind } : {}), steps };
}

/** The first `n` programs a seed draws, resolved. */
export function sampleHartsPrograms(harts: number, n: number, seed: number, maxCommands: number, kind: GuestKind = 'arbitrary'): HartsProgram[] {
  return fc.sample(hartsProgramArb(harts, maxCommands, kind), { seed, numRuns: n }).map(resolveHartsProgram);
}

export const describeGva = (va: Gva): string => `0x${va.toString(16)}`;
