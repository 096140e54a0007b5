/**
 * Two-stage scenarios: VS- and VU-mode accesses through vsatp (Sv39) over hgatp
 * (Sv39x4), with G-stage leaves whose permissions and A/D bits vary per page, so
 * that implicit VS-stage PTE reads and A/D updates meet the G-stage. Nothing
 * changes the tables between accesses but the hart's own A/D updates, so the
 * reference is the deterministic fresh two-stage walk, with hardware A/D update.
 *
 * The nested-paging hart's TLB (spec/two-stage-tlb.ts, Svadu) is held to the same
 * walk on every access, with an empty TLB and with the TLB the scenario's earlier
 * accesses filled: with nothing but A/D updates changing memory, going back to memory
 * for every leaf that needs one must give exactly the fresh walk's result and updates,
 * so exactly what QEMU gave wherever QEMU agrees with the walk. A store to a page
 * holding page tables (or any PTE the filled TLB's walks read) changes more than A/D;
 * the filled TLB is then emptied (a TLB may drop anything; QEMU itself flushes at every
 * switch into VS-mode).
 */
import fc from 'fast-check';
import { type Gva, type Hpa, gva, hex } from '../spec/address.ts';
import { type Memory, emptyMemory, readWord, writeWord } from '../spec/memory.ts';
import { PTE_D, PTE_W, encodePte, pteR, pteW, pteX } from '../spec/pte.ts';
import { type Hgatp, type TwoStageInput, type TwoStageResult, translateTwoStage } from '../spec/two-stage.ts';
import { type TwoStageTlb, emptyTwoStageTlb, hartTranslate } from '../spec/two-stage-tlb.ts';
import type { AccessKind } from '../spec/walk.ts';
import { inRam } from '../spec/config.ts';
import type { Satp } from '../spec/guest-action.ts';
import { type Delegation, bits, landingMode } from '../spec/privilege.ts';
import type { DeviationId } from './deviations.ts';
import { CODE_L1, DATA_FRAMES, DATA_OFFSETS, FETCH_OFFSET, PT_FRAMES, ROOT_FRAMES, SUPERVISOR_CODE_PAGE, USER_CODE_PAGE, qemuGuestConfig } from './layout.ts';
import { OP, type Op, type OpResult, type Scenario } from './protocol.ts';
import { SV39_VAS, bootTables, contentStores, pteArb, zeroStores } from './sv39.ts';

/** The G-stage root (16 KiB aligned, four pages) and its lower tables. */
const G_ROOT = 0x80800n;
const G_L1 = 0x80804n;
const G_L0 = 0x80805n;

const gLeaf = (ppn: bigint, f: { r?: boolean; w?: boolean; x?: boolean; u?: boolean; a?: boolean; d?: boolean; v?: boolean } = {}) =>
  encodePte({ ppn, r: f.r ?? true, w: f.w ?? true, x: f.x ?? true, u: f.u ?? true, a: f.a ?? true, d: f.d ?? true, v: f.v ?? true });

/** GPA 0x8000_0000.. identity: code regions and the VS-stage code table as 2 MiB leaves, scenario frames page by page. */
function gStageStores(framePerms: ReadonlyMap<bigint, bigint>): [bigint, bigint][] {
  const at = (table: bigint, slot: bigint) => (table << 12n) + slot * 8n;
  const out: [bigint, bigint][] = [
    [at(G_ROOT, 2n), encodePte({ ppn: G_L1 })],
    [at(G_L1, 0n), gLeaf(SUPERVISOR_CODE_PAGE)], [at(G_L1, 1n), gLeaf(USER_CODE_PAGE)],
    [at(G_L1, 2n), encodePte({ ppn: G_L0 })], [at(G_L1, 3n), gLeaf(CODE_L1 & ~0x1ffn)],
  ];
  for (let p = 0x80400n; p < 0x80600n; p++) {
    const perm = framePerms.get(p);
    if (perm !== undefined) out.push([at(G_L0, p & 0x1ffn), perm]);
    else if ([...PT_FRAMES, ...DATA_FRAMES].includes(p)) out.push([at(G_L0, p & 0x1ffn), gLeaf(p)]);
  }
  return out;
}

export interface TwoStageScenario {
  readonly category: 'two-stage';
  readonly scenario: Scenario;
  readonly initialMemory: Memory;
  readonly vsatp: Satp;
  readonly hgatp: Hgatp;
  readonly priv: 'VS' | 'VU';
  readonly vsSum: boolean;
  readonly vsMxr: boolean;
  readonly mstatusMxr: boolean;
  /** Where page, guest-page and access faults go. */
  readonly delegation: Delegation;
}

/** No delegation; guest-page and access faults to HS with page faults on to VS; or every fault on to VS but guest-page faults. */
const DELEGATIONS: readonly Delegation[] = [
  { medeleg: 0n, hedeleg: 0n },
  { medeleg: bits(1, 5, 7, 12, 13, 15, 20, 21, 23), hedeleg: bits(12, 13, 15) },
  { medeleg: bits(1, 5, 7, 12, 13, 15, 20, 21, 23), hedeleg: bits(1, 5, 7, 12, 13, 15) },
];

export function twoStageScenarioArb(): fc.Arbitrary<TwoStageScenario> {
  const perm = fc.record({
    r: fc.integer({ min: 0, max: 5 }).map((n) => n > 0), w: fc.integer({ min: 0, max: 3 }).map((n) => n > 0), x: fc.boolean(),
    u: fc.integer({ min: 0, max: 7 }).map((n) => n > 0), a: fc.integer({ min: 0, max: 3 }).map((n) => n > 0),
    d: fc.integer({ min: 0, max: 3 }).map((n) => n > 0), v: fc.integer({ min: 0, max: 9 }).map((n) => n > 0),
  }).map((f) => ({ ...f, r: f.r || !f.x }));
  const access = fc.record({
    va: fc.nat(SV39_VAS.length - 1), access: fc.constantFrom<AccessKind>('load', 'load', 'store', 'fetch'),
    offset: fc.nat(DATA_OFFSETS.length - 1), value: fc.bigInt({ min: 1n, max: 1n << 62n }).map((v) => v * 2n),
  });
  return fc.record({
    // Not the roots: every stub fetch reads root slot 2 (the code mapping) through the G-stage.
    perms: fc.array(fc.tuple(fc.constantFrom(...PT_FRAMES.filter((f) => !ROOT_FRAMES.includes(f)), ...DATA_FRAMES), perm), { maxLength: 3 }),
    mutations: fc.array(fc.record({ frame: fc.nat(PT_FRAMES.length - 1), slot: fc.nat(3), value: pteArb() }), { maxLength: 2 }),
    root: fc.nat(1), asid: fc.integer({ min: 1, max: 2 }), vmid: fc.integer({ min: 1, max: 3 }),
    vsBare: fc.integer({ min: 0, max: 9 }).map((n) => n === 0), gBare: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    priv: fc.constantFrom('VS' as const, 'VS' as const, 'VU' as const),
    vsSum: fc.boolean(), vsMxr: fc.boolean(), mstatusMxr: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    accesses: fc.array(access, { minLength: 1, maxLength: 6 }),
    delegation: fc.constantFrom(...DELEGATIONS),
  }).map((g) => {
    const framePerms = new Map(g.perms.map(([f, p]) => [f, gLeaf(f, p)] as const));
    const stores: [bigint, bigint][] = [...zeroStores(), ...bootTables(), ...contentStores(), ...gStageStores(framePerms)];
    for (const m of g.mutations) {
      const f = PT_FRAMES[m.frame] as bigint;
      if (!(ROOT_FRAMES.includes(f) && m.slot === 2)) stores.push([(f << 12n) + BigInt(m.slot) * 8n, m.value]);
    }
    const rootPpn = ROOT_FRAMES[g.root] as bigint;
    const vsatp: Satp = g.vsBare ? { mode: 'bare' } : { mode: 'sv39', asid: g.asid, rootPpn };
    const hgatp: Hgatp = g.gBare ? { mode: 'bare' } : { mode: 'sv39x4', vmid: g.vmid, rootPpn: G_ROOT };
    const ops: Op[] = [];
    for (const a of g.accesses) {
      // With vsatp Bare the guest-virtual address is the guest-physical one: aim at the scenario frames.
      const base = vsatp.mode === 'bare' ? (DATA_FRAMES[a.va % DATA_FRAMES.length] as bigint) << 12n : (SV39_VAS[a.va] as bigint);
      const offset = a.access === 'fetch' ? FETCH_OFFSET : (DATA_OFFSETS[a.offset] as bigint);
      const kind = a.access === 'load' ? OP.load : a.access === 'store' ? OP.store : OP.fetch;
      ops.push({ kind, a: base + offset, b: a.value });
    }
    // Every VS-stage and G-stage PTE, and every data word, as the hart left them.
    for (const f of [...PT_FRAMES, G_L0]) for (const s of [0n, 1n, 2n, 3n]) ops.push({ kind: OP.mRead, a: (f << 12n) + s * 8n, b: 0n });
    for (const f of [...PT_FRAMES, ...DATA_FRAMES]) ops.push({ kind: OP.mRead, a: (G_L0 << 12n) + (f & 0x1ffn) * 8n, b: 0n });
    for (const f of DATA_FRAMES) for (const o of DATA_OFFSETS) ops.push({ kind: OP.mRead, a: (f << 12n) + o, b: 0n });
    const satpWord = (s: Satp) => (s.mode === 'bare' ? 0n : (8n << 60n) | (BigInt(s.asid) << 44n) | s.rootPpn);
    const hgatpWord = hgatp.mode === 'bare' ? 0n : (8n << 60n) | (BigInt(hgatp.vmid) << 44n) | hgatp.rootPpn;
    return {
      category: 'two-stage' as const,
      initialMemory: stores.reduce((m, [addr, v]) => writeWord(m, addr, v), emptyMemory),
      vsatp, hgatp, priv: g.priv, vsSum: g.vsSum, vsMxr: g.vsMxr, mstatusMxr: g.mstatusMxr, delegation: g.delegation,
      scenario: {
        stores, satp: 0n, vsatp: satpWord(vsatp), hgatp: hgatpWord,
        mstatusSet: g.mstatusMxr ? 1n << 19n : 0n, vsstatusSet: (g.vsSum ? 1n << 18n : 0n) | (g.vsMxr ? 1n << 19n : 0n), hstatusSet: 0n,
        ...g.delegation, mode: g.priv, ops,
      },
    };
  });
}

export interface TwoStageVerdict {
  readonly op: number;
  readonly message: string;
  readonly explainedBy: readonly DeviationId[];
}

/** Does QEMU's result show this translation? A load's value must be the word at its address. */
function shows(t: TwoStageResult, r: OpResult, access: AccessKind, mem: Memory, sc: TwoStageScenario): boolean {
  if (t.kind === 'fault') {
    // The VS handler reports no htval (VS-mode has none).
    const where = landingMode(t.cause, sc.priv, sc.delegation);
    return r.where === where && r.cause === BigInt(t.cause) && r.tval === t.tval && r.tval2 === (where === 'VS' ? 0n : t.tval2);
  }
  return r.where === 'ok' && (access !== 'load' || r.value === readWord(mem, t.hpa & ~7n));
}

/**
 * Which QEMU 7.2 deviations predict its result where the spec predicts `want`
 * (none: unexplained). `run` re-runs the spec's translation of this access over
 * another memory or with MXR taken as QEMU takes it; `before` is memory before the
 * access, `mem` after the spec's own A/D updates.
 */
function deviationFor(
  want: TwoStageResult, r: OpResult, sc: TwoStageScenario, access: AccessKind, mem: Memory, before: Memory,
  run: (m: Memory, vsMxr: boolean, mstatusMxr: boolean) => TwoStageResult,
): DeviationId[] {
  const gstageFault = want.kind === 'fault' && (want.cause === 20 || want.cause === 21 || want.cause === 23);
  if (gstageFault && want.cause !== 21 && r.where === landingMode(21, sc.priv, sc.delegation) && r.cause === 21n && r.tval2 === want.tval2) return ['implicitPteFaultAsLoad'];
  // QEMU 7.2 updates A/D of a VS-stage PTE without asking the G-stage for write permission: with the
  // G-stage leaf of the PTE's page made writable, the spec's translation must give what QEMU gave.
  if (gstageFault && want.tval2 !== 0n) {
    const leafAddr = (G_L0 << 12n) + ((want.tval2 >> 10n) & 0x1ffn) * 8n;
    const leaf = readWord(mem, leafAddr);
    const alt = pteW(leaf) ? null : run(writeWord(mem, leafAddr, leaf | PTE_W | PTE_D), sc.vsMxr, sc.mstatusMxr);
    if (alt !== null && shows(alt, r, access, mem, sc)) return ['vsAdUpdateNoGstageCheck'];
    // When the PTE maps its own page, the explicit store still meets the G-stage's missing W: a fault on the final address.
    const samePage = alt?.kind === 'ok' && alt.hpa >> 12n === want.tval2 >> 10n;
    if (samePage && access === 'store' && r.where === landingMode(23, sc.priv, sc.delegation) && r.cause === 23n && alt.kind === 'ok' && r.tval2 === alt.hpa >> 2n) return ['vsAdUpdateNoGstageCheck'];
  }
  // QEMU 7.2 lets MXR make an execute-only G-stage page readable for the implicit read of a VS-stage PTE.
  const implicitRead = want.kind === 'fault' && want.tval2 !== 0n ? readWord(mem, (G_L0 << 12n) + ((want.tval2 >> 10n) & 0x1ffn) * 8n) : 0n;
  if (gstageFault && (sc.vsMxr || sc.mstatusMxr) && pteX(implicitRead) && !pteR(implicitRead)) return ['mxrStages'];
  if (sc.vsMxr !== sc.mstatusMxr) {
    const qemu = [run(before, sc.vsMxr, false), run(before, sc.vsMxr, sc.vsMxr)];
    if (qemu.some((t) => shows(t, r, access, mem, sc))) return ['mxrStages'];
  }
  return [];
}

/** Frames holding page tables of either stage: a store there may make a filled TLB stale. */
const TABLE_FRAMES: readonly bigint[] = [...PT_FRAMES, CODE_L1, G_ROOT, G_ROOT + 1n, G_ROOT + 2n, G_ROOT + 3n, G_L1, G_L0];

/** The host pages a translation read PTEs from: each G-stage walk's tables, and each VS-stage PTE's page. */
const pagesRead = (t: ReturnType<typeof hartTranslate>): bigint[] => t.gLookups.flatMap((l) => [
  ...(l.walk === null ? [] : l.walk.path.map((p) => p.pteAddr >> 12n)),
  ...(!l.explicit && l.outcome.kind === 'ok' ? [l.outcome.hpa >> 12n] : []),
]);

/** What the nested-paging hart did over the accesses checked: for the figures a run reports. */
export interface HartCounts {
  accesses: number;
  /** Accesses the filled TLB served from a combined entry. */
  combinedHits: number;
  /** Accesses for which a cached leaf needing an A/D update sent the filled TLB back to memory. */
  backToMemory: number;
  /** A/D updates the hart made (each stage's), on the filled TLB. */
  updates: number;
}

export const emptyHartCounts = (): HartCounts => ({ accesses: 0, combinedHits: 0, backToMemory: 0, updates: 0 });

const resultText = (t: TwoStageResult): string =>
  `${t.kind === 'ok' ? `ok at ${hex(t.hpa)}` : `cause ${t.cause}, tval ${hex(t.tval)}, tval2 ${hex(t.tval2)}`}; A/D [${t.updates.map((u) => `${hex(u.addr)}=${hex(u.value)}`).join(', ')}]`;

/**
 * The hart's translation of one access, with an empty TLB and with `filled`, against the fresh walk
 * `want`: the same result and the same A/D updates, in order. The difference, or the TLB after it.
 */
function hartAgrees(want: TwoStageResult, input: TwoStageInput, filled: TwoStageTlb, counts: HartCounts | undefined):
  { readonly message: string | null; readonly tlb: TwoStageTlb; readonly read: readonly bigint[] } {
  const cold = hartTranslate(emptyTwoStageTlb, input);
  const warm = hartTranslate(filled, input);
  if (counts !== undefined) {
    counts.accesses++;
    if (warm.served.combined) counts.combinedHits++;
    if (warm.served.backToMemory > 0) counts.backToMemory++;
    counts.updates += warm.result.updates.length;
  }
  for (const [tlb, t] of [['an empty', cold], ['the filled', warm]] as const) {
    if (resultText(t.result) !== resultText(want)) {
      return { message: `${input.access} ${hex(input.gva)}: the NPT hart with ${tlb} TLB gives ${resultText(t.result)}, the fresh walk ${resultText(want)}`, tlb: warm.tlb, read: [] };
    }
  }
  return { message: null, tlb: warm.tlb, read: pagesRead(warm) };
}

/**
 * Every access of a scenario on the nested-paging hart against the fresh two-stage walk, with no QEMU:
 * checkTwoStage's hart check alone, memory advanced by the walk's updates and stores.
 */
export function checkTwoStageHart(sc: TwoStageScenario, counts?: HartCounts): TwoStageVerdict | null {
  return check(sc, null, counts);
}

/** Check one scenario: each access against the fresh two-stage walk; the readbacks against memory. Stops at the first difference. */
export function checkTwoStage(sc: TwoStageScenario, results: readonly OpResult[], counts?: HartCounts): TwoStageVerdict | null {
  return check(sc, results, counts);
}

/** checkTwoStage, or with `results` null the hart against the walk alone. */
function check(sc: TwoStageScenario, results: readonly OpResult[] | null, counts: HartCounts | undefined): TwoStageVerdict | null {
  let mem = sc.initialMemory;
  let tlb = emptyTwoStageTlb;
  /** Pages holding what the filled TLB may have cached. */
  let tables = new Set(TABLE_FRAMES);
  const ops = sc.scenario.ops;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as Op;
    const r = results === null ? null : results[i];
    if (r === undefined) return { op: i, message: `QEMU reported ${results?.length ?? 0} results for ${ops.length} operations`, explainedBy: [] };
    if (op.kind === OP.mRead) {
      if (r === null) continue;
      const want = readWord(mem, op.a);
      // QEMU 7.2's A/D update of a VS-stage PTE is a plain store: it never sets D in the G-stage leaf.
      const gstageD = op.a >> 12n === G_L0 && r.value === (want & ~PTE_D);
      if (r.value !== want) return { op: i, message: `memory at ${hex(op.a)} reads ${hex(r.value)} on QEMU, the reference holds ${hex(want)}`, explainedBy: gstageD ? ['vsAdUpdateNoGstageCheck'] : [] };
      continue;
    }
    const access: AccessKind = op.kind === OP.load ? 'load' : op.kind === OP.store ? 'store' : 'fetch';
    const input = (m: Memory, vsMxr: boolean, mstatusMxr: boolean): TwoStageInput => ({
      gva: gva(op.a) as Gva, access, priv: sc.priv, vsatp: sc.vsatp, hgatp: sc.hgatp,
      vsstatus: { sum: sc.vsSum, mxr: vsMxr }, mstatusMxr,
      read: (a: Hpa) => readWord(m, a), inRam: (a: Hpa) => inRam(qemuGuestConfig, a), svade: false,
    });
    const run = (m: Memory, vsMxr: boolean, mstatusMxr: boolean) => translateTwoStage(input(m, vsMxr, mstatusMxr));
    const want = run(mem, sc.vsMxr, sc.mstatusMxr);
    // The hart first: a difference from the walk is the TLB's own, whatever QEMU did.
    const hart = hartAgrees(want, input(mem, sc.vsMxr, sc.mstatusMxr), tlb, counts);
    if (hart.message !== null) return { op: i, message: hart.message, explainedBy: [] };
    tlb = hart.tlb;
    tables = new Set([...tables, ...hart.read]);
    const after = want.updates.reduce((m, u) => writeWord(m, u.addr, u.value), mem);
    if (r !== null && !shows(want, r, access, after, sc)) {
      const spec = want.kind === 'ok' ? `ok at ${hex(want.hpa)}` : `cause ${want.cause}, tval ${hex(want.tval)}, tval2 ${hex(want.tval2)}`;
      const got = r.where === 'ok' ? `ok (value ${hex(r.value)})` : `trap to ${r.where}, cause ${r.cause}, tval ${hex(r.tval)}, tval2 ${hex(r.tval2)}`;
      return { op: i, message: `${access} ${hex(op.a)} (${sc.priv}-mode): the spec says ${spec}, QEMU ${got}`, explainedBy: deviationFor(want, r, sc, access, after, mem, run) };
    }
    mem = after;
    if (want.kind === 'ok' && access === 'store') {
      mem = writeWord(mem, want.hpa & ~7n, op.b);
      if (tables.has(want.hpa >> 12n)) tlb = emptyTwoStageTlb;
    }
  }
  return null;
}
