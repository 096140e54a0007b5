/**
 * Single-stage scenarios (S- and U-mode over satp Sv39, SUM/MXR, superpages,
 * misaligned superpages, reserved encodings, A/D clear, PTE stores and satp
 * switches with no fence between accesses) and their check against the
 * reference, run with hardware A/D update as QEMU 7.2 does.
 *
 * The check keeps every reference state QEMU's results so far can be explained
 * by: an access may have several allowed outcomes with the same observable result
 * (a store's target is learnt only from the reads after it), so the checker
 * follows each, and drops those a later read contradicts. QEMU agrees if some
 * allowed execution explains every result.
 */
import fc from 'fast-check';
import { type Gva, gpa, gva, hex } from '../spec/address.ts';
import type { AccessAction, Outcome } from '../spec/guest-action.ts';
import { outcomeKey } from '../spec/guest-action.ts';
import { type Memory, emptyMemory, pagesOf, readWord, writeWord } from '../spec/memory.ts';
import { PTE_G, PTE_R, PTE_V, PTE_W, encodePte } from '../spec/pte.ts';
import { type ReferenceState, allowedOutcomes, initialReference, referenceAccess, referenceStep } from '../spec/reference.ts';
import type { AccessKind } from '../spec/walk.ts';
import {
  DATA_FRAMES, DATA_OFFSETS, EBREAK, FETCH_OFFSET, OTHER_REACHABLE, OUTSIDE_RAM, PT_FRAMES, ROOT_FRAMES, CODE_ROOT_SLOT, codeMappingStores, dataTag, qemuGuestConfig,
} from './layout.ts';
import { type Delegation, bits, landingMode } from '../spec/privilege.ts';
import type { DeviationId } from './deviations.ts';
import { OP, type Op, type OpResult, type Scenario } from './protocol.ts';

const vaOf = (vpn2: bigint, vpn1: bigint, vpn0: bigint): Gva => gva((vpn2 << 30n) | (vpn1 << 21n) | (vpn0 << 12n));
/** vpn[2] in {1, 3} (2 is the harness's code), vpn[1] in {0, 1}, vpn[0] in {1, 2}. */
export const SV39_VAS: readonly Gva[] = [1n, 3n].flatMap((a) => [0n, 1n].flatMap((b) => [1n, 2n].map((c) => vaOf(a, b, c))));
const SLOTS = [0n, 1n, 2n, 3n];

const pointer = (f: bigint) => encodePte({ ppn: f });
const leafRw = (f: bigint, extra: { u?: boolean; x?: boolean } = {}) => encodePte({ ppn: f, r: true, w: true, a: true, d: true, ...extra });

/** The two address spaces every scenario boots with (they share a level-0 table). */
export function bootTables(): [bigint, bigint][] {
  const [r0, p1, p2, r1, p4, p5] = PT_FRAMES as [bigint, bigint, bigint, bigint, bigint, bigint];
  const [d0, d1, d2, d3] = DATA_FRAMES as [bigint, bigint, bigint, bigint];
  const at = (f: bigint, slot: bigint) => (f << 12n) + slot * 8n;
  return [
    ...codeMappingStores(r0), ...codeMappingStores(r1),
    [at(r0, 1n), pointer(p1)], [at(r0, 3n), pointer(p1)], [at(p1, 0n), pointer(p2)], [at(p1, 1n), pointer(p2)],
    [at(p2, 1n), leafRw(d0)], [at(p2, 2n), leafRw(d1, { u: true, x: true })],
    [at(r1, 1n), pointer(p4)], [at(r1, 3n), pointer(p4)], [at(p4, 0n), pointer(p5)], [at(p4, 1n), pointer(p2)],
    [at(p5, 1n), leafRw(d2, { u: true })], [at(p5, 2n), leafRw(d3, { x: true })],
  ];
}

/** Data tags and fetch targets in every scenario frame (tags only in data frames: PT frames hold PTEs). */
export function contentStores(): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  for (const f of DATA_FRAMES) for (const o of DATA_OFFSETS) out.push([(f << 12n) + o, dataTag((f << 12n) + o)]);
  for (const f of [...DATA_FRAMES, ...PT_FRAMES, ...OTHER_REACHABLE]) out.push([(f << 12n) + FETCH_OFFSET, EBREAK]);
  return out;
}

/**
 * Zeroes first, for every word a scenario may reach: the harness clears what a
 * scenario stored after it, but not what a store through a stale translation
 * reached, so each scenario starts by clearing it (conformance/PROTOCOL.md).
 */
export function zeroStores(): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  for (const f of [...PT_FRAMES, ...DATA_FRAMES, ...OTHER_REACHABLE]) for (const o of [...DATA_OFFSETS, 16n, 24n]) out.push([(f << 12n) + o, 0n]);
  return out;
}

/** PTE values whose every target is inside the scenario region or outside RAM: the harness can never be overwritten. */
export function pteArb(): fc.Arbitrary<bigint> {
  const flags = fc.record({
    r: fc.boolean(), w: fc.boolean(), x: fc.boolean(), u: fc.boolean(), g: fc.boolean(),
    a: fc.integer({ min: 0, max: 3 }).map((n) => n > 0), d: fc.integer({ min: 0, max: 3 }).map((n) => n > 0),
  }).map((f) => ({ ...f, r: f.r || !f.x }));
  const frame = fc.constantFrom(...DATA_FRAMES, ...PT_FRAMES);
  return fc.oneof(
    { arbitrary: fc.tuple(fc.constantFrom(...PT_FRAMES), fc.boolean()).map(([f, g]) => encodePte({ ppn: f, g })), weight: 3 },
    { arbitrary: fc.tuple(frame, flags).map(([f, fl]) => encodePte({ ppn: f, ...fl })), weight: 6 },
    // 2 MiB leaves: aligned on the scenario region, or misaligned; 1 GiB leaves only outside RAM or misaligned.
    { arbitrary: fc.tuple(fc.constantFrom(0x80400n, 0x80401n, 0xc0000n, 0x80600n), flags).map(([f, fl]) => encodePte({ ppn: f, ...fl })), weight: 2 },
    { arbitrary: fc.tuple(fc.constantFrom(...OUTSIDE_RAM), flags).map(([f, fl]) => encodePte({ ppn: f, ...fl })), weight: 1 },
    { arbitrary: fc.constantFrom(0n, PTE_G, PTE_V | PTE_W, PTE_R | PTE_W, encodePte({ ppn: 0x80411n, a: true }), encodePte({ ppn: 0x80401n, r: true, a: true }) | (1n << 54n), encodePte({ ppn: 0x80402n, r: true, a: true }) | (1n << 63n)), weight: 2 },
  );
}

type Step =
  | { readonly kind: 'pte'; readonly frame: number; readonly slot: number; readonly value: bigint }
  | { readonly kind: 'satp'; readonly root: number; readonly asid: number }
  | { readonly kind: 'access'; readonly va: number; readonly access: AccessKind; readonly offset: number; readonly value: bigint }
  | { readonly kind: 'sfence'; readonly va: number | null; readonly asid: number | null };

export interface Sv39Scenario {
  readonly category: 'sv39';
  readonly scenario: Scenario;
  readonly initialMemory: Memory;
  readonly initialSatp: { readonly root: bigint; readonly asid: number };
  readonly sum: boolean;
  readonly mxr: boolean;
  /** Where page and access faults go: M (no delegation) or HS (medeleg). */
  readonly delegation: Delegation;
}

/** No delegation, or page and access faults delegated to HS. */
export const FAULT_DELEGATIONS: readonly Delegation[] = [{ medeleg: 0n, hedeleg: 0n }, { medeleg: bits(1, 5, 7, 12, 13, 15), hedeleg: 0n }];

const satpValue = (root: bigint, asid: number) => (8n << 60n) | (BigInt(asid) << 44n) | root;

export function sv39ScenarioArb(): fc.Arbitrary<Sv39Scenario> {
  const step: fc.Arbitrary<Step> = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('access' as const), va: fc.nat(SV39_VAS.length - 1), access: fc.constantFrom<AccessKind>('load', 'load', 'store', 'fetch'), offset: fc.nat(DATA_OFFSETS.length - 1), value: fc.bigInt({ min: 1n, max: (1n << 62n) }).map((v) => v * 2n) }), weight: 6 },
    { arbitrary: fc.record({ kind: fc.constant('pte' as const), frame: fc.nat(PT_FRAMES.length - 1), slot: fc.nat(SLOTS.length - 1), value: pteArb() }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('satp' as const), root: fc.nat(1), asid: fc.integer({ min: 1, max: 2 }) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('sfence' as const), va: fc.option(fc.nat(SV39_VAS.length - 1), { nil: null }), asid: fc.option(fc.integer({ min: 1, max: 2 }), { nil: null }) }), weight: 1 },
  );
  return fc.record({
    mutations: fc.array(fc.record({ frame: fc.nat(PT_FRAMES.length - 1), slot: fc.nat(SLOTS.length - 1), value: pteArb() }), { maxLength: 3 }),
    root: fc.nat(1), asid: fc.integer({ min: 1, max: 2 }), mode: fc.constantFrom('S' as const, 'S' as const, 'U' as const),
    sum: fc.boolean(), mxr: fc.boolean(), steps: fc.array(step, { minLength: 2, maxLength: 10 }),
    delegation: fc.constantFrom(...FAULT_DELEGATIONS),
  }).map(({ mutations, root, asid, mode, sum, mxr, steps, delegation }) => {
    const isCodeSlot = (frame: bigint, slot: bigint) => ROOT_FRAMES.includes(frame) && slot === CODE_ROOT_SLOT;
    const stores: [bigint, bigint][] = [...zeroStores(), ...bootTables(), ...contentStores()];
    for (const m of mutations) {
      const f = PT_FRAMES[m.frame] as bigint;
      const s = SLOTS[m.slot] as bigint;
      if (!isCodeSlot(f, s)) stores.push([(f << 12n) + s * 8n, m.value]);
    }
    const ops: Op[] = [];
    for (const st of steps) {
      if (st.kind === 'pte') {
        const f = PT_FRAMES[st.frame] as bigint;
        const s = SLOTS[st.slot] as bigint;
        if (!isCodeSlot(f, s)) ops.push({ kind: OP.mStore, a: (f << 12n) + s * 8n, b: st.value });
      } else if (st.kind === 'satp') {
        ops.push({ kind: OP.mSatp, a: satpValue(ROOT_FRAMES[st.root] as bigint, st.asid), b: 0n });
      } else if (st.kind === 'sfence') {
        if (mode !== 'S') continue; // SFENCE.VMA in U-mode is an illegal instruction: the routing scenarios cover it
        const va = st.va === null ? 0n : (SV39_VAS[st.va] as bigint);
        const kind = st.va === null ? (st.asid === null ? OP.sfenceAll : OP.sfenceAsid) : st.asid === null ? OP.sfenceVa : OP.sfenceVaAsid;
        ops.push({ kind, a: va, b: BigInt(st.asid ?? 0) });
      } else {
        const base = SV39_VAS[st.va] as bigint;
        const kind = st.access === 'load' ? OP.load : st.access === 'store' ? OP.store : OP.fetch;
        const offset = st.access === 'fetch' ? FETCH_OFFSET : (DATA_OFFSETS[st.offset] as bigint);
        ops.push({ kind, a: base + offset, b: st.value });
        // Where a store landed is learnt by reading back every frame it could have reached.
        if (st.access === 'store') for (const f of [...DATA_FRAMES, ...PT_FRAMES, ...OTHER_REACHABLE]) ops.push({ kind: OP.mRead, a: (f << 12n) + offset, b: 0n });
      }
    }
    // At the end, every PTE slot the walks use: A and D as the hart left them.
    for (const f of PT_FRAMES) for (const s of SLOTS) ops.push({ kind: OP.mRead, a: (f << 12n) + s * 8n, b: 0n });
    const rootFrame = ROOT_FRAMES[root] as bigint;
    const initialMemory = stores.reduce((m, [a, v]) => writeWord(m, gpa(a), v), emptyMemory);
    return {
      category: 'sv39' as const,
      scenario: {
        stores, satp: satpValue(rootFrame, asid), vsatp: 0n, hgatp: 0n,
        mstatusSet: (sum ? 1n << 18n : 0n) | (mxr ? 1n << 19n : 0n), vsstatusSet: 0n, hstatusSet: 0n, ...delegation,
        mode, ops,
      },
      initialMemory, initialSatp: { root: rootFrame, asid }, sum, mxr, delegation,
    };
  });
}

export interface Disagreement {
  readonly op: number;
  readonly message: string;
  /** The documented QEMU deviations that predict QEMU's result (none: unexplained). */
  readonly explainedBy: readonly DeviationId[];
}

const memoryKey = (m: Memory): string => pagesOf(m).map(([p, w]) => `${p}:${[...w].map(([s, v]) => `${s}=${v}`).join(',')}`).join(';');
const stateKey = (s: ReferenceState): string =>
  `${memoryKey(s.mem)}|${JSON.stringify(s.satp, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}|${[...s.cache].map(([k, es]) => `${k}:${es.map((e) => `${e.tag}/${e.pte}/${e.pteAddr}`).join(',')}`).join(';')}`;

/** Check QEMU's results for one single-stage scenario; null if some allowed execution explains them all. */
/**
 * A reference state QEMU's results so far can be explained by, and the QEMU
 * deviations that explanation needed (none: the spec alone explains them).
 */
interface Candidate {
  readonly state: ReferenceState;
  readonly deviations: readonly DeviationId[];
}

export function checkSv39(sc: Sv39Scenario, results: readonly OpResult[], mutation: string | null = null): Disagreement | null {
  const priv = sc.scenario.mode === 'U' ? 'U' : 'S';
  const landing = (cause: number) => landingMode(cause, priv === 'U' ? 'U' : 'HS', sc.delegation);
  // The 'no-hardware-ad' mutation runs the reference under Svade although QEMU updates A/D.
  const cfg = mutation === 'no-hardware-ad' ? { ...qemuGuestConfig, svade: true } : qemuGuestConfig;
  let start = initialReference(cfg, SV39_VAS, sc.initialMemory);
  start = referenceStep(start, { kind: 'sum', value: sc.sum });
  start = referenceStep(start, { kind: 'mxr', value: sc.mxr });
  start = referenceStep(start, { kind: 'satp', satp: { mode: 'sv39', asid: sc.initialSatp.asid, rootPpn: sc.initialSatp.root } });
  let candidates: Candidate[] = [{ state: start, deviations: [] }];
  const step = (f: (s: ReferenceState) => ReferenceState) => {
    candidates = candidates.map((c) => ({ ...c, state: f(c.state) }));
  };
  const ops = sc.scenario.ops;
  if (results.length !== ops.length) return { op: results.length, message: `QEMU reported ${results.length} results for ${ops.length} operations`, explainedBy: [] };
  let firstDeviation = -1;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as Op;
    const r = results[i] as OpResult;
    const expectOk = (what: string): Disagreement | null => (r.where === 'ok' ? null : { op: i, message: `${what}: QEMU trapped to ${r.where} with cause ${r.cause}, tval ${hex(r.tval)}`, explainedBy: [] });
    switch (op.kind) {
      case OP.mStore:
        step((s) => referenceStep(s, { kind: 'ptStore', addr: gpa(op.a), value: op.b }));
        break;
      case OP.mSatp:
        step((s) => referenceStep(s, { kind: 'satp', satp: { mode: 'sv39', asid: Number((op.a >> 44n) & 0xffffn), rootPpn: op.a & ((1n << 44n) - 1n) } }));
        break;
      case OP.mRead: {
        const next = candidates.filter((c) => readWord(c.state.mem, op.a) === r.value);
        if (next.length === 0) {
          const want = [...new Set(candidates.map((c) => hex(readWord(c.state.mem, op.a))))].join(' or ');
          return { op: i, message: `memory at ${hex(op.a)} reads ${hex(r.value)} on QEMU, the reference holds ${want}`, explainedBy: [] };
        }
        candidates = next;
        break;
      }
      case OP.sfenceAll:
      case OP.sfenceVa:
      case OP.sfenceAsid:
      case OP.sfenceVaAsid: {
        const bad = expectOk('SFENCE.VMA');
        if (bad !== null) return bad;
        const rs1 = op.kind === OP.sfenceVa || op.kind === OP.sfenceVaAsid ? gva(op.a) : null;
        const rs2 = op.kind === OP.sfenceAsid || op.kind === OP.sfenceVaAsid ? Number(op.b) : null;
        step((s) => referenceStep(s, { kind: 'sfence', rs1, rs2 }));
        break;
      }
      default: {
        const access: AccessKind = op.kind === OP.load ? 'load' : op.kind === OP.store ? 'store' : 'fetch';
        const a: AccessAction = { kind: 'access', va: gva(op.a), access, priv, value: op.b };
        const next: Candidate[] = [];
        const allowedSeen = new Set<string>();
        for (const c of candidates) {
          for (const o of allowedOutcomes(c.state, a)) {
            allowedSeen.add(outcomeKey(o));
            if (explains(o, r, c.state, op.kind === OP.load, landing)) next.push({ ...c, state: referenceAccess(c.state, a, o) });
          }
          // QEMU 7.2 lets S-mode execute a U page once a load (SUM=1) has put it in its TLB: the fetch
          // then gets what a U-mode fetch would (ok, or an access fault outside RAM). Followed as a
          // deviating explanation, so that its effects (no A/D update on the fresh PTE) are too.
          if (access === 'fetch' && priv === 'S' && sc.sum) {
            for (const o of allowedOutcomes(c.state, { ...a, priv: 'U' })) {
              if (!allowedSeen.has(outcomeKey(o)) && explains(o, r, c.state, false, landing)) {
                next.push({ state: referenceAccess(c.state, a, o), deviations: [...new Set([...c.deviations, 'sExecUserPageFromTlb' as const])] });
              }
            }
          }
        }
        if (next.length === 0) {
          return { op: i, message: `${access} ${hex(op.a)} (${priv}-mode): QEMU gave ${describeResult(r)}; allowed: ${[...allowedSeen].join('; ')}`, explainedBy: [] };
        }
        if (firstDeviation < 0 && next.every((c) => c.deviations.length > 0)) firstDeviation = i;
        const seen = new Map<string, Candidate>();
        for (const c of next) {
          const key = stateKey(c.state);
          const had = seen.get(key);
          if (had === undefined || had.deviations.length > c.deviations.length) seen.set(key, c);
        }
        candidates = [...seen.values()].slice(0, 64);
      }
    }
  }
  // Explained by the spec alone if some surviving explanation needed no deviation.
  if (candidates.some((c) => c.deviations.length === 0)) return null;
  const by = [...new Set(candidates.flatMap((c) => c.deviations))];
  return { op: Math.max(firstDeviation, 0), message: `QEMU's results need ${by.join(', ')} to be explained`, explainedBy: by };
}

/**
 * Does QEMU's result show outcome `o`? A fault must land where the delegation
 * sends it; a load's value must be the word at o's address, after the
 * translation's own A/D update.
 */
function explains(o: Outcome, r: OpResult, s: ReferenceState, isLoad: boolean, landing: (cause: number) => string): boolean {
  if (o.kind === 'fault') return r.where === landing(o.cause) && r.cause === BigInt(o.cause) && r.tval === o.tval;
  const mem = o.adUpdate === null ? s.mem : writeWord(s.mem, o.adUpdate.addr, o.adUpdate.pte);
  return r.where === 'ok' && (!isLoad || r.value === readWord(mem, o.pa & ~7n));
}

export function describeResult(r: OpResult): string {
  return r.where === 'ok' ? `ok (value ${hex(r.value)})` : `trap to ${r.where}, cause ${r.cause}, tval ${hex(r.tval)}, tval2 ${hex(r.tval2)}`;
}

