/**
 * The two-stage hart's TLB (spec/two-stage-tlb.ts) refines the references: on random
 * programs of guest and hypervisor actions, every translation it makes is allowed.
 * - Its final guest-physical address (or its VS-stage page fault) is allowed by the Sv39
 *   reference (spec/reference.ts) over the guest's memory, and a G-stage fault on a
 *   VS-stage PTE read comes after VS-stage reads that reference allows.
 * - Every G-stage lookup it made (GPA, access type, outcome), a combined hit's included,
 *   is allowed by the G-stage reference (spec/gstage-reference.ts).
 * It also takes stale outcomes of each kind (counted, with floors), and harts with a
 * seeded mistake fail the same check.
 *
 * The composition is exact only where the guest's memory is one thing: the G-stage maps
 * each VS page-table page to one frame between fences. So the pages holding VS tables
 * (the pool) keep their frame except through a fenced migration (copy, remap, HFENCE.GVMA),
 * and VS pointers point only into the pool; their G-stage permissions may change unfenced.
 * Data pages' G-stage mappings change freely: leaves retargeted, 2 MiB superpages split and
 * merged, pointers moved, roots switched. Two VMs (VMIDs 1 and 2) have the same layout and
 * different contents, so a hart that confuses them gives a wrong address.
 *
 * The property runs twice: on Svade harts (A/D clear faults; accesses write nothing) and on
 * Svadu harts (the hart sets A/D itself). A Svadu access writes its A/D updates to host memory,
 * in order, and nothing else (stores of data are the vsStore commands' business). Each of its
 * G-stage lookups, with its A/D update, must be allowed by the G-stage reference as the
 * translation's earlier updates left it; its VS-stage outcome, with the VS-stage A/D update at
 * the PTE's guest-physical address, by the Sv39 reference, which then takes the update (the
 * guest's memory changes through it alone). A VS-stage update lands in the frame its pool page
 * has now. A Svadu hart also goes back to memory for cached leaves needing an update (counted,
 * with floors, as are the A/D updates of each stage), and two Svadu harts with a seeded mistake fail.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { type Gpa, type Gva, type Hpa, PAGE_SHIFT, type Level, gpa, gva, hex, hpa, vpnIndex, vpnOf } from '../spec/address.ts';
import type { GuestConfig } from '../spec/config.ts';
import {
  type GStageConfig, type GStageReference, allowedGStage, freshGStage, gStageStep, inHostRam, initialGStageReference,
} from '../spec/gstage-reference.ts';
import { type AccessAction, type Outcome, type Satp, outcomeKey } from '../spec/guest-action.ts';
import { type Memory, emptyMemory, pageWords, readWord, writeWord } from '../spec/memory.ts';
import { PTE_D, type PteFields, encodePte, isValidPointer, ptePpn } from '../spec/pte.ts';
import {
  type ReferenceState, allowedOutcomes, freshOutcome, initialReference, matchingEntries, referenceStep,
} from '../spec/reference.ts';
import { type Hgatp, type PteUpdate, type TwoStageInput, type TwoStageResult, gOutcomeKey, noCache, translateTwoStage, translateTwoStageWith } from '../spec/two-stage.ts';
import { type CombinedEntry, type HartTranslation, type TwoStageTlb, emptyTwoStageTlb, hartGFence, hartTranslate, hartVsFence } from '../spec/two-stage-tlb.ts';
import { type AccessKind, type WalkStep, isMisalignedSuperpage, leafPhysicalAddress } from '../spec/walk.ts';
import { envCount, envSeed, fastCheckSeed } from './seed.ts';

const FILE = 'properties/two-stage-tlb.test.ts';
const seed = envSeed('SSP_SPEC_SEED');
const runs = envCount('SSP_SPEC_RUNS', 150);
const maxCommands = envCount('SSP_SPEC_STEPS', 50);
console.log(`${FILE}: seed ${seed}, ${runs} programs of at most ${maxCommands} commands (reproduce: SSP_SPEC_SEED=${seed} SSP_SPEC_RUNS=${runs} SSP_SPEC_STEPS=${maxCommands} npx vitest run ${FILE})`);

// ---------------------------------------------------------------------------------------------
// The machine: host RAM 0x8000_0000..0x9000_0000, two VMs with the same guest-physical layout
// ---------------------------------------------------------------------------------------------

/** Host RAM and VMIDs; `svade` is the property's parameter (both stages alike: henvcfg.ADUE and menvcfg.ADUE together). */
const gCfgOf = (svade: boolean): GStageConfig => ({ ramBasePage: 0x80000n, ramPages: 0x10000n, vmidLen: 14, svade });
const gCfg = gCfgOf(true);
/** The guest as the Sv39 reference sees it: its PMA check never fails (the G-stage decides what exists). */
const guestCfgOf = (svade: boolean): GuestConfig => ({ ramBasePage: 0n, ramPages: 1n << 29n, asidLen: 16, svade, walksInFlight: false });

type Vm = 1 | 2;
type L0Table = 'x' | 'y' | 's';
type L1Table = 'a' | 'b';

/** Host frames of one VM (page numbers). Each G-stage root is 16 KiB and 16 KiB-aligned. */
const layout = (vm: Vm) => {
  const b = vm === 1 ? 0x81000n : 0x82000n;
  return {
    root: { a: b, b: b + 4n } as Record<L1Table, bigint>,
    l1: { a: b + 8n, b: b + 9n } as Record<L1Table, bigint>,
    poolL0: b + 0xan,
    l0: { x: b + 0xbn, y: b + 0xcn, s: b + 0xdn } as Record<L0Table, bigint>,
    pool: [0n, 1n, 2n, 3n].map((i) => ({ primary: b + 0x10n + i, spare: b + 0x14n + i })),
    data: [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n].map((k) => b + 0x20n + k),
    /** 2 MiB-aligned frames for G-stage superpages. */
    superpages: [0x89000n + (vm === 1 ? 0n : 0x1000n), 0x89200n + (vm === 1 ? 0n : 0x1000n)],
  };
};

/** Guest-physical pages: the pool of VS page-table pages, and data in three 2 MiB regions (G-stage L1[1..3]). */
const POOL_GPN = [0x80000n, 0x80001n, 0x80002n, 0x80003n];
const DATA_GPN = [0x80200n, 0x80201n, 0x80202n, 0x80400n, 0x80401n, 0x80402n, 0x80600n, 0x80601n];
/** The guest-virtual pages accessed: their walks use slots 0-2 of the VS tables. */
const VAS = [gva(0x1000n), gva(0x2000n), gva(0x20_1000n), gva(0x4000_1000n)];
/** What VS leaves point to: data pages, a pool page and a 1 GiB-aligned page (superpages land elsewhere). */
const VS_LEAF_PPNS = [0x80200n, 0x80201n, 0x80202n, 0x80400n, 0x80401n, 0x80402n, 0x80600n, 0x80000n];

const at = (page: bigint, index: bigint): bigint => (page << PAGE_SHIFT) + index * 8n;
const ptr = (page: bigint, g = false): bigint => encodePte({ ppn: page, g });
const UD = { u: true, r: true, w: true, x: true, a: true, d: true };
const gLeaf = (page: bigint, f: Omit<PteFields, 'ppn'> = UD): bigint => encodePte({ ppn: page, ...f });

/** G-stage leaf permissions for data pages, the first the usual one. */
const G_PERMS: readonly Omit<PteFields, 'ppn'>[] = [
  UD, { u: true, r: true, a: true, d: true }, { u: true, r: true, w: true, a: true }, { u: true, x: true, a: true, d: true },
  { r: true, w: true, x: true, a: true, d: true }, { u: true, r: true, w: true, x: true },
];
/** G-stage permissions for a pool page: the usual, read-only, then four that fail the implicit load. */
const POOL_PERMS: readonly Omit<PteFields, 'ppn'>[] = [
  UD, { u: true, r: true, a: true, d: true }, { r: true, w: true, a: true, d: true }, { u: true, x: true, a: true, d: true },
  { u: true, r: true, w: true }, { v: false, u: true, r: true, w: true, a: true, d: true },
];
/**
 * Svadu: also a read-only page without D (a VS-stage A/D update there is refused) and a writable one
 * without D (the first VS-stage A/D update on the page sets it).
 */
const POOL_PERMS_SVADU: readonly Omit<PteFields, 'ppn'>[] = [...POOL_PERMS, { u: true, r: true, a: true }, { u: true, r: true, w: true, x: true, a: true }];
const poolPerms = (svade: boolean): readonly Omit<PteFields, 'ppn'>[] => (svade ? POOL_PERMS : POOL_PERMS_SVADU);
/** Svadu harts boot with G-stage leaves of pool pages without D, and of 4 KiB data pages without A or D. */
const BOOT_G_POOL = (svade: boolean): Omit<PteFields, 'ppn'> => (svade ? UD : { u: true, r: true, w: true, x: true, a: true });
const BOOT_G_DATA = (svade: boolean): Omit<PteFields, 'ppn'> => (svade ? UD : { u: true, r: true, w: true, x: true });
/** VS leaf permissions. */
const VS_PERMS: readonly Omit<PteFields, 'ppn'>[] = [
  { r: true, w: true, x: true, a: true, d: true }, { r: true, a: true }, { r: true, w: true, a: true }, { x: true, a: true },
  { r: true, u: true, a: true, d: true }, { r: true, w: true, u: true, a: true, d: true }, { r: true, w: true, x: true },
];
/**
 * Svadu harts meet more VS leaves without A or D (stores are a quarter of the accesses): the Svade
 * list, then a writable leaf without D and two more without either; the boot leaves lack both.
 */
const VS_PERMS_SVADU: readonly Omit<PteFields, 'ppn'>[] = [
  ...VS_PERMS, { r: true, w: true, x: true, a: true }, { r: true, w: true, x: true }, { r: true, w: true, u: true },
];
const vsPerms = (svade: boolean): readonly Omit<PteFields, 'ppn'>[] => (svade ? VS_PERMS : VS_PERMS_SVADU);
const BOOT_VS_PERMS = (svade: boolean): Omit<PteFields, 'ppn'> => (svade ? { r: true, w: true, x: true, a: true, d: true } : { r: true, w: true, x: true });

function bootHost(svade: boolean): Memory {
  const words: [bigint, bigint][] = [];
  for (const vm of [1, 2] as const) {
    const l = layout(vm);
    words.push([at(l.root.a, 2n), ptr(l.l1.a)], [at(l.root.b, 2n), ptr(l.l1.b)]);
    words.push([at(l.l1.a, 0n), ptr(l.poolL0)], [at(l.l1.a, 1n), ptr(l.l0.x)], [at(l.l1.a, 2n), gLeaf(l.superpages[0] ?? 0n)]);
    words.push([at(l.l1.b, 0n), ptr(l.poolL0)], [at(l.l1.b, 1n), ptr(l.l0.y)], [at(l.l1.b, 2n), gLeaf(l.superpages[1] ?? 0n)]);
    for (const [i, f] of l.pool.entries()) words.push([at(l.poolL0, BigInt(i)), gLeaf(f.primary, BOOT_G_POOL(svade))]);
    const d = BOOT_G_DATA(svade);
    for (const j of [0n, 1n, 2n]) {
      words.push([at(l.l0.x, j), gLeaf(l.data[Number(j)] ?? 0n, d)], [at(l.l0.y, j), gLeaf(l.data[Number(j) + 3] ?? 0n, d)]);
      words.push([at(l.l0.s, j), gLeaf(l.data[(Number(j) + 5) % 8] ?? 0n, d)]);
    }
    // The VS tables, in the pool's primary frames: P0 and P1 are roots, P2 an L1, P3 an L0. VM 2's leaves differ.
    const p = (i: number): bigint => l.pool[i]?.primary ?? 0n;
    words.push([at(p(0), 0n), ptr(0x80002n)], [at(p(0), 1n), ptr(0x80002n)], [at(p(1), 0n), ptr(0x80002n)]);
    words.push([at(p(2), 0n), ptr(0x80003n)], [at(p(2), 1n), ptr(0x80003n)]);
    const [one, two] = vm === 1 ? [0x80201n, 0x80401n] : [0x80202n, 0x80402n];
    words.push([at(p(3), 1n), encodePte({ ppn: one, ...BOOT_VS_PERMS(svade) })], [at(p(3), 2n), encodePte({ ppn: two, ...BOOT_VS_PERMS(svade) })]);
  }
  return words.reduce((m, [a, v]) => writeWord(m, a, v), emptyMemory);
}

/** The guest's memory: the pool pages' contents, at their guest-physical addresses. */
function guestMemory(host: Memory, vm: Vm): Memory {
  let m = emptyMemory;
  for (const [i, f] of layout(vm).pool.entries()) {
    for (const [slot, word] of pageWords(host, f.primary)) m = writeWord(m, at(POOL_GPN[i] ?? 0n, BigInt(slot)), word);
  }
  return m;
}

/** Every guest-physical page a translation of the VAS can reach: the G-stage reference's universe. */
function gUniverse(): Gpa[] {
  const pages = new Set<bigint>([...POOL_GPN, ...DATA_GPN, ...VAS.map((v) => v >> PAGE_SHIFT)]);
  for (const va of VAS) {
    for (const ppn of VS_LEAF_PPNS) {
      const leaf = encodePte({ ppn, r: true });
      for (const level of [0, 1, 2] as const) if (!isMisalignedSuperpage(leaf, level)) pages.add(leafPhysicalAddress(va, leaf, level) >> PAGE_SHIFT);
    }
  }
  return [...pages].map((p) => gpa(p << PAGE_SHIFT));
}
const G_UNIVERSE = gUniverse();

// ---------------------------------------------------------------------------------------------
// Programs
// ---------------------------------------------------------------------------------------------

type VsValue = { readonly kind: 'pointer'; readonly page: number; readonly g: boolean }
  | { readonly kind: 'leaf'; readonly ppn: number; readonly perm: number; readonly g: boolean }
  | { readonly kind: 'invalid' };
type GL0Value = { readonly kind: 'leaf'; readonly frame: number; readonly perm: number } | { readonly kind: 'invalid' }
  | { readonly kind: 'outside-ram' } | { readonly kind: 'pointer' };
type GL1Value = { readonly kind: 'pointer'; readonly to: L0Table } | { readonly kind: 'superpage'; readonly which: number; readonly perm: number }
  | { readonly kind: 'misaligned' } | { readonly kind: 'invalid' };

type Command =
  | { readonly kind: 'vsStore'; readonly page: number; readonly index: number; readonly value: VsValue }
  /** The guest's remap idiom: a new VS leaf for a GVA, then SFENCE.VMA of it (its ASID, or x0). */
  | { readonly kind: 'vsRemap'; readonly va: number; readonly value: VsValue; readonly asid: boolean }
  | { readonly kind: 'gL0Store'; readonly vm: Vm; readonly table: L0Table; readonly index: number; readonly value: GL0Value }
  | { readonly kind: 'gL1Store'; readonly vm: Vm; readonly table: L1Table; readonly index: number; readonly value: GL1Value }
  /** A pool page's G-stage permissions, its frame kept, no fence. */
  | { readonly kind: 'poolPerm'; readonly vm: Vm; readonly page: number; readonly perm: number }
  /** The hypervisor moves a pool page: copy, remap, HFENCE.GVMA of it. */
  | { readonly kind: 'migrate'; readonly page: number }
  /** The hypervisor's remap idiom: the G-stage leaf mapping a data page retargeted, then HFENCE.GVMA of the leaf's first GPA. */
  | { readonly kind: 'gRemap'; readonly gpn: number; readonly frame: number; readonly perm: number }
  /** A 2 MiB G-stage page (re)made: the current root's L1[2] becomes a superpage leaf, then HFENCE.GVMA of its base. */
  | { readonly kind: 'gHuge'; readonly which: number; readonly perm: number }
  | { readonly kind: 'vsFence'; readonly instr: 'sfence.vma' | 'hfence.vvma'; readonly va: number | null; readonly asid: number | null }
  | { readonly kind: 'gFence'; readonly gpn: number | null; readonly vmid: number | null }
  | { readonly kind: 'vsatp'; readonly asid: number; readonly root: number | null }
  | { readonly kind: 'hgatp'; readonly vm: Vm; readonly root: L1Table }
  | { readonly kind: 'access'; readonly va: number; readonly access: AccessKind; readonly priv: 'VS' | 'VU' };

const vsValueArb = (svade: boolean): fc.Arbitrary<VsValue> => fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pointer' as const), page: fc.nat(3), g: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('leaf' as const), ppn: fc.nat(VS_LEAF_PPNS.length - 1), perm: fc.nat(vsPerms(svade).length - 1), g: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'invalid' as const }) },
);
const gL0ValueArb: fc.Arbitrary<GL0Value> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('leaf' as const), frame: fc.nat(7), perm: fc.nat(G_PERMS.length - 1) }) },
  { weight: 1, arbitrary: fc.constantFrom({ kind: 'invalid' as const }, { kind: 'outside-ram' as const }, { kind: 'pointer' as const }) },
);
const gL1ValueArb: fc.Arbitrary<GL1Value> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('pointer' as const), to: fc.constantFrom<L0Table>('x', 'y', 's') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('superpage' as const), which: fc.nat(1), perm: fc.nat(G_PERMS.length - 1) }) },
  { weight: 1, arbitrary: fc.constantFrom({ kind: 'misaligned' as const }, { kind: 'invalid' as const }) },
);
const vmArb = fc.constantFrom<Vm>(1, 2);

const commandArb = (svade: boolean): fc.Arbitrary<Command> => fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('vsStore' as const), page: fc.nat(3), index: fc.nat(2), value: vsValueArb(svade) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('vsRemap' as const), va: fc.nat(VAS.length - 1), value: vsValueArb(svade), asid: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('gL0Store' as const), vm: vmArb, table: fc.constantFrom<L0Table>('x', 'y', 's'), index: fc.nat(2), value: gL0ValueArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('gL1Store' as const), vm: vmArb, table: fc.constantFrom<L1Table>('a', 'b'), index: fc.integer({ min: 1, max: 3 }), value: gL1ValueArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('poolPerm' as const), vm: vmArb, page: fc.nat(3), perm: fc.nat(poolPerms(svade).length - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('migrate' as const), page: fc.nat(3) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('gRemap' as const), gpn: fc.nat(DATA_GPN.length - 1), frame: fc.nat(7), perm: fc.nat(G_PERMS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('gHuge' as const), which: fc.nat(1), perm: fc.nat(G_PERMS.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('vsFence' as const), instr: fc.constantFrom('sfence.vma' as const, 'hfence.vvma' as const), va: fc.option(fc.nat(VAS.length - 1)), asid: fc.option(fc.constantFrom(1, 2)) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('gFence' as const), gpn: fc.option(fc.nat(G_UNIVERSE.length - 1)), vmid: fc.option(fc.constantFrom(1, 2)) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('vsatp' as const), asid: fc.constantFrom(1, 2), root: fc.option(fc.nat(1), { freq: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hgatp' as const), vm: vmArb, root: fc.constantFrom<L1Table>('a', 'b') }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('access' as const), va: fc.nat(VAS.length - 1), access: fc.constantFrom<AccessKind>('load', 'load', 'store', 'fetch'), priv: fc.constantFrom('VS' as const, 'VS' as const, 'VS' as const, 'VU' as const) }) },
);

// ---------------------------------------------------------------------------------------------
// Running a program on a hart beside both references
// ---------------------------------------------------------------------------------------------

/** The hart under test: spec/two-stage-tlb.ts, or a variant with a seeded mistake. */
interface Hart {
  readonly translate: (tlb: TwoStageTlb, input: TwoStageInput) => HartTranslation;
  readonly vsFence: (tlb: TwoStageTlb, vmid: number, rs1: Gva | null, rs2: number | null, guestPteAt: (a: Gpa) => bigint) => TwoStageTlb;
  readonly gFence: (tlb: TwoStageTlb, rs1: Gpa | null, rs2: number | null, hostPteAt: (a: Hpa) => bigint) => TwoStageTlb;
}
const correctHart: Hart = { translate: hartTranslate, vsFence: hartVsFence, gFence: hartGFence };

interface World {
  readonly g: GStageReference;
  readonly vs: Readonly<Record<Vm, ReferenceState>>;
  /** The current frame of each pool page, per VM. */
  readonly poolFrames: Readonly<Record<Vm, readonly bigint[]>>;
  readonly vm: Vm;
  readonly tlb: TwoStageTlb;
  /** Svade harts (true) or Svadu harts. */
  readonly svade: boolean;
}

interface Stats {
  programs: number;
  accesses: number;
  combinedHits: number;
  /** Translations whose VS-stage result (GPA or page fault) differs from the Sv39 walk of memory. */
  vsStale: number;
  /** G-stage lookups whose outcome differs from the G-stage walk of memory. */
  gStale: number;
  /** Combined hits whose result differs from the uncached translation's. */
  combinedStale: number;
  /** Stale G-stage lookups on a VS-stage PTE read. */
  gStaleImplicit: number;
  vmSwitches: number;
  /** Svadu: VS-stage A/D updates made (written to a pool frame), and G-stage ones (written to a G-stage table). */
  vsUpdates: number;
  gUpdates: number;
  /** Svadu: VS-stage A/D updates the G-stage refused (the implicit store faulted), so not made. */
  vsUpdatesRefused: number;
  /** Svadu: translations in which a cached leaf needing an A/D update sent the hart back to memory. */
  backToMemory: number;
}
const emptyStats = (): Stats => ({
  programs: 0, accesses: 0, combinedHits: 0, vsStale: 0, gStale: 0, combinedStale: 0, gStaleImplicit: 0, vmSwitches: 0,
  vsUpdates: 0, gUpdates: 0, vsUpdatesRefused: 0, backToMemory: 0,
});

function initialWorld(svade: boolean): World {
  const host = bootHost(svade);
  const g = gStageStep(initialGStageReference(gCfgOf(svade), G_UNIVERSE, host), { kind: 'hgatp', hgatp: hgatpOf(1, 'a') });
  const satp: Satp = { mode: 'sv39', asid: 1, rootPpn: POOL_GPN[0] ?? 0n };
  const vs = (vm: Vm) => referenceStep(initialReference(guestCfgOf(svade), VAS, guestMemory(host, vm)), { kind: 'satp', satp });
  const frames = (vm: Vm) => layout(vm).pool.map((f) => f.primary);
  return { g, vs: { 1: vs(1), 2: vs(2) }, poolFrames: { 1: frames(1), 2: frames(2) }, vm: 1, tlb: emptyTwoStageTlb, svade };
}

const hgatpOf = (vm: Vm, root: L1Table): Hgatp => ({ mode: 'sv39x4', vmid: vm, rootPpn: layout(vm).root[root] });

const hostStore = (w: World, addr: bigint, value: bigint): World => ({ ...w, g: gStageStep(w.g, { kind: 'hostStore', addr: hpa(addr), value }) });

function gFence(w: World, hart: Hart, rs1: Gpa | null, rs2: number | null): World {
  const g = gStageStep(w.g, { kind: 'hfenceGvma', rs1, rs2 });
  return { ...w, g, tlb: hart.gFence(w.tlb, rs1, rs2, (a) => readWord(w.g.mem, a)) };
}

function vsValue(v: VsValue, svade: boolean): bigint {
  switch (v.kind) {
    case 'pointer': return ptr(POOL_GPN[v.page] ?? 0n, v.g);
    case 'leaf': return encodePte({ ppn: VS_LEAF_PPNS[v.ppn] ?? 0n, ...vsPerms(svade)[v.perm], g: v.g });
    case 'invalid': return 0n;
  }
}

/** A guest store to a VS page-table word: to the frame the pool page has now, and to the guest's memory. */
function vsStore(w: World, page: number, index: bigint, value: bigint): World {
  const frame = w.poolFrames[w.vm][page] ?? 0n;
  const next = hostStore(w, at(frame, index), value);
  return { ...next, vs: { ...w.vs, [w.vm]: referenceStep(w.vs[w.vm], { kind: 'ptStore', addr: gpa(at(POOL_GPN[page] ?? 0n, index)), value }) } };
}

/** Where the guest's walk of `va` now finds its leaf (memory only), as (pool page, index); null if it finds none. */
function vsLeafSlot(ref: ReferenceState, va: Gva): { page: number; index: bigint } | null {
  if (ref.satp.mode !== 'sv39') return null;
  let table = ref.satp.rootPpn;
  for (const level of [2, 1, 0] as const) {
    const index = vpnIndex(va, level);
    const page = POOL_GPN.indexOf(table);
    if (page < 0) return null;
    const pte = readWord(ref.mem, at(table, index));
    if (!isValidPointer(pte) || level === 0) return { page, index };
    table = ptePpn(pte);
  }
  return null;
}

/** Where the current G-stage walk of `gpn` stops (its leaf, or what fails), in host memory, and at which level; null if nowhere. */
function gLeafSlot(g: GStageReference, gpn: bigint): { addr: bigint; level: Level } | null {
  if (g.hgatp.mode !== 'sv39x4') return null;
  let table = g.hgatp.rootPpn;
  for (const level of [2, 1, 0] as const) {
    const index = level === 2 ? (gpn >> 18n) & 0x7ffn : (gpn >> (9n * BigInt(level))) & 0x1ffn;
    const addr = at(table, index);
    if (!inHostRam(gCfg, addr)) return null;
    const pte = readWord(g.mem, addr);
    if (!isValidPointer(pte)) return { addr, level };
    table = ptePpn(pte);
  }
  return null;
}

const resultKey = (r: TwoStageResult): string => (r.kind === 'ok' ? `ok hpa=${hex(r.hpa)}` : `fault ${r.cause} tval=${hex(r.tval)} tval2=${hex(r.tval2)}`);

/**
 * Were these VS-stage reads (root first) a walk the Sv39 reference allows so far, and is
 * `next` the guest-physical address of its next read? Each read must sit where the previous
 * pointer says and return memory or a matching cached value.
 */
function vsPrefixAllowed(ref: ReferenceState, va: Gva, path: readonly WalkStep[], next: Gpa): boolean {
  if (ref.satp.mode !== 'sv39') return false;
  const asid = ref.satp.asid;
  let base = ref.satp.rootPpn << PAGE_SHIFT;
  for (const [i, step] of path.entries()) {
    const level = (2 - i) as Level;
    if (step.level !== level || step.pteAddr !== base + vpnIndex(va, level) * 8n || !isValidPointer(step.pte)) return false;
    if (readWord(ref.mem, step.pteAddr) !== step.pte && !matchingEntries(ref.cache, level, va, asid).some((e) => e.pte === step.pte)) return false;
    base = ptePpn(step.pte) << PAGE_SHIFT;
  }
  const level = 2 - path.length;
  return level >= 0 && next === base + vpnIndex(va, level as Level) * 8n;
}

/** One access on the hart, checked against both references; a violation is thrown as a message. */
function access(w: World, hart: Hart, c: Extract<Command, { kind: 'access' }>, stats: Stats): World {
  const va = VAS[c.va] ?? gva(0n);
  const ref = w.vs[w.vm];
  const input: TwoStageInput = {
    gva: va, access: c.access, priv: c.priv, vsatp: ref.satp, hgatp: w.g.hgatp, vsstatus: { sum: false, mxr: false }, mstatusMxr: false,
    read: (a) => readWord(w.g.mem, a), inRam: (a) => inHostRam(gCfg, a), svade: w.svade,
  };
  const t = hart.translate(w.tlb, input);
  stats.accesses++;
  if (t.served.combined) stats.combinedHits++;
  if (t.served.backToMemory > 0) stats.backToMemory++;
  const vsWalk = t.vsWalk?.kind === 'ok' ? t.vsWalk : null;
  const vsUpdate = vsWalk === null ? null : vsWalk.adUpdate;
  // The A/D updates the translation made, in the order the hart makes them (spec/two-stage.ts
  // `translateTwoStageWith`): each G-stage leaf's as its lookup completes, and the VS-stage leaf's once
  // the G-stage permits its implicit store, which is the lookup of the leaf's GPA as a store.
  const expectedUpdates: PteUpdate[] = [];
  // Each G-stage lookup against the G-stage reference as the translation's earlier updates left host memory.
  let gNow = w.g;
  for (const l of t.gLookups) {
    const allowed = allowedGStage(gNow, l.gpa, l.ctx).map(gOutcomeKey);
    const got = gOutcomeKey(l.outcome);
    if (!allowed.includes(got)) throw new Error(`G-stage ${l.explicit ? 'explicit' : 'implicit'} ${l.ctx.kind} of ${hex(l.gpa)}: ${got} is not allowed; allowed: ${allowed.join(' | ')}`);
    if (got !== gOutcomeKey(freshGStage(gNow, l.gpa, l.ctx))) {
      stats.gStale++;
      if (!l.explicit) stats.gStaleImplicit++;
    }
    if (l.outcome.kind === 'ok' && l.outcome.adUpdate !== null) {
      expectedUpdates.push(l.outcome.adUpdate);
      gNow = gStageStep(gNow, { kind: 'hostStore', addr: l.outcome.adUpdate.addr, value: l.outcome.adUpdate.value });
      stats.gUpdates++;
    }
    if (!l.explicit && l.ctx.kind === 'store' && vsUpdate !== null) {
      if (l.outcome.kind !== 'ok') {
        stats.vsUpdatesRefused++;
        continue;
      }
      // The VS-stage update lands in the frame the PTE's pool page has now: the guest's memory is one thing.
      const page = POOL_GPN.indexOf(vsUpdate.addr >> PAGE_SHIFT);
      const frame = w.poolFrames[w.vm][page];
      if (frame === undefined || l.outcome.hpa !== hpa((frame << PAGE_SHIFT) | (vsUpdate.addr & 0xfffn))) {
        throw new Error(`the VS-stage A/D update of ${hex(vsUpdate.addr)} lands at ${hex(l.outcome.hpa)}, not in its pool page's frame`);
      }
      expectedUpdates.push({ addr: l.outcome.hpa, value: vsUpdate.pte });
    }
  }
  const updateKeys = (us: readonly PteUpdate[]): string => us.map((u) => `${hex(u.addr)}=${hex(u.value)}`).join(', ');
  if (updateKeys(t.result.updates) !== updateKeys(expectedUpdates)) {
    throw new Error(`the translation reports A/D updates [${updateKeys(t.result.updates)}], its lookups made [${updateKeys(expectedUpdates)}]`);
  }
  const action: AccessAction = { kind: 'access', va, access: c.access, priv: c.priv === 'VS' ? 'S' : 'U', value: 0n };
  const allowedVs = allowedOutcomes(ref, action).map(outcomeKey);
  const last = t.gLookups[t.gLookups.length - 1];
  let vsOutcome: Outcome | null = null;
  // The VS-stage walk reached a GPA: its A/D update (step 7) was made, at the PTE's guest-physical address.
  if (t.gpa !== null) vsOutcome = { kind: 'ok', pa: t.gpa, adUpdate: vsUpdate };
  else if (last !== undefined && !last.explicit && last.outcome.kind !== 'ok' && last.ctx.kind === 'store' && vsWalk !== null && vsUpdate !== null) {
    // The G-stage refused the VS-stage A/D update's implicit store: the walk, its update included, must be allowed.
    const attempted = outcomeKey({ kind: 'ok', pa: vsWalk.pa, adUpdate: vsUpdate });
    if (!allowedVs.includes(attempted)) throw new Error(`VS-stage: ${attempted} (its update refused by the G-stage) is not allowed; allowed: ${allowedVs.join(' | ')}`);
  } else if (last !== undefined && !last.explicit && last.outcome.kind !== 'ok') {
    // The G-stage failed on a VS-stage PTE read: the VS-stage walk up to it must be one the reference allows.
    if (!vsPrefixAllowed(ref, va, t.vsPath, last.gpa)) throw new Error(`VS-stage reads before the G-stage fault at ${hex(last.gpa)} are not an allowed walk`);
  } else if (t.result.kind === 'fault') vsOutcome = { kind: 'fault', cause: t.result.cause, tval: va };
  let vsNext = ref;
  if (vsOutcome !== null) {
    if (!allowedVs.includes(outcomeKey(vsOutcome))) throw new Error(`VS-stage: ${outcomeKey(vsOutcome)} is not allowed; allowed: ${allowedVs.join(' | ')}`);
    if (outcomeKey(vsOutcome) !== outcomeKey(freshOutcome(ref, action))) stats.vsStale++;
    // The guest's memory takes the VS-stage update (the access's own store writes nothing here).
    if (t.gpa !== null && vsUpdate !== null) {
      stats.vsUpdates++;
      vsNext = referenceStep(ref, { kind: 'ptStore', addr: vsUpdate.addr, value: vsUpdate.pte });
    }
  }
  if (t.result.kind === 'ok' && (last?.outcome.kind !== 'ok' || last.outcome.hpa !== t.result.hpa || !last.explicit)) {
    throw new Error(`the result ${resultKey(t.result)} is not the final G-stage lookup's`);
  }
  if (t.served.combined && resultKey(t.result) !== resultKey(translateTwoStage(input))) stats.combinedStale++;
  // Host memory takes every update, in order (those made before a fault stand).
  const g = t.result.updates.reduce((m, u) => gStageStep(m, { kind: 'hostStore', addr: u.addr, value: u.value }), w.g);
  return { ...w, g, tlb: t.tlb, vs: { ...w.vs, [w.vm]: vsNext } };
}

function step(w: World, hart: Hart, c: Command, stats: Stats): World {
  const l = layout(w.vm);
  switch (c.kind) {
    case 'access':
      return access(w, hart, c, stats);
    case 'vsStore':
      return vsStore(w, c.page, BigInt(c.index), vsValue(c.value, w.svade));
    case 'vsRemap': {
      const va = VAS[c.va] ?? gva(0n);
      const slot = vsLeafSlot(w.vs[w.vm], va);
      if (slot === null) return w;
      const stored = vsStore(w, slot.page, slot.index, vsValue(c.value, w.svade));
      const satp = w.vs[w.vm].satp;
      return step(stored, hart, { kind: 'vsFence', instr: 'sfence.vma', va: c.va, asid: c.asid && satp.mode === 'sv39' ? satp.asid : null }, stats);
    }
    case 'gL0Store': {
      const t = layout(c.vm).l0[c.table];
      const v = c.value;
      const value = v.kind === 'leaf' ? gLeaf(layout(c.vm).data[v.frame] ?? 0n, G_PERMS[v.perm])
        : v.kind === 'outside-ram' ? gLeaf(0x100n) : v.kind === 'pointer' ? ptr(t) : 0n;
      return hostStore(w, at(t, BigInt(c.index)), value);
    }
    case 'gL1Store': {
      const lc = layout(c.vm);
      const v = c.value;
      const value = v.kind === 'pointer' ? ptr(lc.l0[v.to])
        : v.kind === 'superpage' ? gLeaf(lc.superpages[v.which] ?? 0n, G_PERMS[v.perm])
        : v.kind === 'misaligned' ? gLeaf((lc.superpages[0] ?? 0n) + 1n) : 0n;
      return hostStore(w, at(lc.l1[c.table], BigInt(c.index)), value);
    }
    case 'poolPerm': {
      const frame = w.poolFrames[c.vm][c.page] ?? 0n;
      return hostStore(w, at(layout(c.vm).poolL0, BigInt(c.page)), gLeaf(frame, poolPerms(w.svade)[c.perm]));
    }
    case 'migrate': {
      // Copy the page to its other frame, point the G-stage leaf there (permissions kept), fence it.
      const from = w.poolFrames[w.vm][c.page] ?? 0n;
      const f = l.pool[c.page];
      if (f === undefined) return w;
      const to = from === f.primary ? f.spare : f.primary;
      let next = w;
      const old = pageWords(w.g.mem, to);
      for (const slot of old.keys()) next = hostStore(next, at(to, BigInt(slot)), 0n);
      for (const [slot, word] of pageWords(w.g.mem, from)) next = hostStore(next, at(to, BigInt(slot)), word);
      const leafAddr = at(l.poolL0, BigInt(c.page));
      const leaf = readWord(next.g.mem, leafAddr);
      next = hostStore(next, leafAddr, (leaf & ~(((1n << 44n) - 1n) << 10n)) | (to << 10n));
      const frames = [...w.poolFrames[w.vm]];
      frames[c.page] = to;
      next = { ...next, poolFrames: { ...w.poolFrames, [w.vm]: frames } };
      return gFence(next, hart, gpa((POOL_GPN[c.page] ?? 0n) << PAGE_SHIFT), w.vm);
    }
    case 'gRemap': {
      // Fence the first GPA of the page the leaf maps: for a superpage, its base, which need not be
      // the page an access went through (the fence covers every GPA inside the leaf's page).
      const gpn = DATA_GPN[c.gpn] ?? 0n;
      const slot = gLeafSlot(w.g, gpn);
      if (slot === null) return w;
      const stored = hostStore(w, slot.addr, gLeaf(l.data[c.frame] ?? 0n, G_PERMS[c.perm]));
      const span = 9n * BigInt(slot.level);
      return gFence(stored, hart, gpa(((gpn >> span) << span) << PAGE_SHIFT), w.vm);
    }
    case 'gHuge': {
      const g = w.g.hgatp;
      if (g.mode !== 'sv39x4') return w;
      const l1 = readWord(w.g.mem, at(g.rootPpn, 2n));
      if (!isValidPointer(l1)) return w;
      const stored = hostStore(w, at(ptePpn(l1), 2n), gLeaf(l.superpages[c.which] ?? 0n, G_PERMS[c.perm]));
      return gFence(stored, hart, gpa(0x8040_0000n), w.vm);
    }
    case 'vsFence': {
      const rs1 = c.va === null ? null : (VAS[c.va] ?? null);
      const ref = w.vs[w.vm];
      const tlb = hart.vsFence(w.tlb, w.vm, rs1, c.asid, (a) => readWord(ref.mem, a));
      return { ...w, tlb, vs: { ...w.vs, [w.vm]: referenceStep(ref, { kind: 'sfence', rs1, rs2: c.asid }) } };
    }
    case 'gFence':
      return gFence(w, hart, c.gpn === null ? null : (G_UNIVERSE[c.gpn] ?? null), c.vmid);
    case 'vsatp': {
      const satp: Satp = c.root === null ? { mode: 'bare' } : { mode: 'sv39', asid: c.asid, rootPpn: POOL_GPN[c.root] ?? 0n };
      return { ...w, vs: { ...w.vs, [w.vm]: referenceStep(w.vs[w.vm], { kind: 'satp', satp }) } };
    }
    case 'hgatp': {
      // Switching VM restores that VM's vsatp: each VM's Sv39 reference keeps its own.
      if (c.vm !== w.vm) stats.vmSwitches++;
      return { ...w, vm: c.vm, g: gStageStep(w.g, { kind: 'hgatp', hgatp: hgatpOf(c.vm, c.root) }) };
    }
  }
}

/** Run a program on Svade (`svade`) or Svadu harts; the first violation, with the steps that led to it, or null. */
function runProgram(hart: Hart, program: readonly Command[], stats: Stats, svade: boolean): string | null {
  stats.programs++;
  let w = initialWorld(svade);
  for (const [i, c] of program.entries()) {
    try {
      w = step(w, hart, c, stats);
    } catch (e) {
      const steps = program.slice(0, i + 1).map((x, k) => `  ${k} ${JSON.stringify(x)}`).join('\n');
      return `step ${i}: ${e instanceof Error ? e.message : String(e)}\n${steps}`;
    }
  }
  return null;
}

const programArb = (svade: boolean) => fc.array(commandArb(svade), { minLength: 1, maxLength: maxCommands, size: 'max' });

/** The counts per 100 programs. */
const per100 = (s: Stats): Record<string, number> =>
  Object.fromEntries(Object.entries(s).filter(([k]) => k !== 'programs').map(([k, v]) => [k, Math.round((v * 100) / Math.max(1, s.programs))]));

const MODES = [['Svade', true], ['Svadu', false]] as const;

describe.each(MODES)('the two-stage hart TLB refines the Sv39 and G-stage references (%s harts)', (mode, svade) => {
  test('every outcome is allowed, and stale outcomes of each kind are taken', () => {
    const stats = emptyStats();
    fc.assert(
      fc.property(programArb(svade), (program) => {
        const violation = runProgram(correctHart, program, stats, svade);
        if (violation !== null) throw new Error(violation);
      }),
      // The two modes draw different programs from one seed.
      { numRuns: runs, seed: fastCheckSeed(seed + (svade ? 0 : 1)) },
    );
    const rates = per100(stats);
    console.log(`${FILE} (${mode}): per 100 programs ${JSON.stringify(rates)}`);
    // Below a floor the generator has stopped reaching the case and the test would pass vacuously.
    const floors = FLOORS[mode];
    for (const [k, floor] of Object.entries(floors)) expect(rates[k] ?? 0, `${k} per 100 programs`).toBeGreaterThanOrEqual(floor);
  }, 20 * 60_000);

  test.each(svade ? wrongSvade : wrongSvadu)('a hart whose %s fails it', (name, hart) => {
    const result = fc.check(
      fc.property(programArb(svade), (program) => {
        const violation = runProgram(hart, program, emptyStats(), svade);
        if (violation !== null) throw new Error(violation);
      }),
      // Up to four times the programs: a check stops at its first failure, and a Svadu mistake needs a
      // cached leaf that memory has since changed (seeds 100..129 caught every one within 289).
      { numRuns: runs * 4, seed: fastCheckSeed(seed + (svade ? 0 : 1)) },
    );
    expect(result.failed).toBe(true);
    if (result.failed) console.log(`${FILE} (${mode}): ${name}: caught after ${result.numRuns} programs; shrunk: ${String(result.errorInstance)}`);
  }, 20 * 60_000);
});

/** Harts with one seeded mistake each: the same property must fail on them (Svade harts). */
const wrongSvade: readonly [string, Hart][] = [
  ['HFENCE.GVMA rs1=gpa forgets the combined entries', {
    ...correctHart,
    gFence: (tlb, rs1, rs2, at) => (rs1 === null ? hartGFence(tlb, rs1, rs2, at) : { ...hartGFence(tlb, rs1, rs2, at), combined: tlb.combined }),
  }],
  ['TLB ignores the VMID (every entry tagged VMID 1)', {
    ...correctHart,
    translate: (tlb, input) => hartTranslate(tlb, { ...input, hgatp: input.hgatp.mode === 'sv39x4' ? { ...input.hgatp, vmid: 1 } : input.hgatp }),
    vsFence: (tlb, _vmid, rs1, rs2, at) => hartVsFence(tlb, 1, rs1, rs2, at),
    gFence: (tlb, rs1, _rs2, at) => hartGFence(tlb, rs1, null, at),
  }],
  ['HFENCE.GVMA removes G-stage entries but no combined entry', { ...correctHart, gFence: (tlb, rs1, rs2, at) => ({ ...hartGFence(tlb, rs1, rs2, at), combined: tlb.combined }) }],
  ['HFENCE.VVMA / SFENCE.VMA leaves the combined entries', { ...correctHart, vsFence: (tlb, vmid, rs1, rs2, at) => ({ ...hartVsFence(tlb, vmid, rs1, rs2, at), combined: tlb.combined }) }],
  ['HFENCE.GVMA rs1=gpa matches a combined entry by its own 4 KiB GPA page, not the G-stage leaf’s page', {
    ...correctHart,
    gFence: (tlb, rs1, rs2, at) => {
      const fenced = hartGFence(tlb, rs1, rs2, at);
      if (rs1 === null) return fenced;
      const page = rs1 >> PAGE_SHIFT;
      const combined = new Map([...tlb.combined].map(([vpn, es]) => [vpn, es.filter((e) => !((rs2 === null || e.vmid === rs2) && e.gpa >> PAGE_SHIFT === page))]));
      return { ...fenced, combined };
    },
  }],
];

/** The combined entry a translation of `input` may use (spec/two-stage-tlb.ts's matching rule). */
function combinedFor(tlb: TwoStageTlb, input: TwoStageInput): CombinedEntry | undefined {
  if (input.vsatp.mode !== 'sv39' || input.hgatp.mode !== 'sv39x4') return undefined;
  const { asid } = input.vsatp;
  const { vmid } = input.hgatp;
  return (tlb.combined.get(vpnOf(input.gva)) ?? []).find((e) => e.vmid === vmid && (e.tag === 'global' || e.tag === asid));
}

/** Svadu harts with one seeded mistake each. */
const wrongSvadu: readonly [string, Hart][] = [
  ['A/D update is made from its combined entry’s cached leaves, not memory’s PTEs', {
    ...correctHart,
    translate: (tlb, input) => {
      const t = hartTranslate(tlb, input);
      const e = combinedFor(tlb, input);
      if (t.served.backToMemory === 0 || e === undefined) return t;
      const stale = translateTwoStageWith(input, { ...noCache, combined: e.leaves });
      return { ...t, result: stale.result, gpa: stale.gpa, gLookups: stale.gLookups, vsWalk: stale.vsWalk, vsPath: stale.vsWalk?.path ?? [] };
    },
  }],
  ['TLB holds a leaf with D set after a load or fetch set only A', {
    ...correctHart,
    translate: (tlb, input) => {
      const t = hartTranslate(tlb, input);
      const w = t.vsWalk;
      if (input.access === 'store' || w?.kind !== 'ok' || w.adUpdate === null || t.gpa === null) return t;
      const combined = new Map([...t.tlb.combined].map(([vpn, es]) => [vpn, es.map((e) => (e.leaves.vs.leafAddr === w.leafAddr
        ? { ...e, leaves: { ...e.leaves, vs: { ...e.leaves.vs, leaf: e.leaves.vs.leaf | PTE_D } } }
        : e))]));
      return { ...t, tlb: { ...t.tlb, combined } };
    },
  }],
];

/**
 * Per 100 programs: about a third of the lowest rate seeds 100..129 gave at 150 programs of at most
 * 50 commands. Svade: vsStale 22, gStale 27, gStaleImplicit 10, combinedStale 15, combinedHits 59,
 * vmSwitches 31. Svadu: vsStale 21, gStale 27, gStaleImplicit 7, combinedStale 13, combinedHits 54,
 * vmSwitches 31, vsUpdates 123, gUpdates 156, backToMemory 99. VS-stage updates the G-stage refused
 * are counted but have no floor (0 to 8 per 100 programs: a read-only pool page under a leaf in need).
 */
const FLOORS: Readonly<Record<'Svade' | 'Svadu', Readonly<Record<string, number>>>> = {
  Svade: { vsStale: 7, gStale: 9, gStaleImplicit: 3, combinedStale: 5, combinedHits: 20, vmSwitches: 10 },
  Svadu: { vsStale: 7, gStale: 9, gStaleImplicit: 2, combinedStale: 4, combinedHits: 18, vmSwitches: 10, vsUpdates: 40, gUpdates: 50, backToMemory: 33 },
};
