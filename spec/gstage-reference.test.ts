/**
 * The G-stage reference, hand-computed cases. Every expected set is the exact allowed set:
 * a superset would mean the reference is too permissive, a subset too strict.
 *
 * Host layout (RAM is host-physical 0x8000_0000..0x9000_0000):
 *   root R  (16 KiB) 0x8000_0000  R[2] -> L1        root R2 0x8000_4000  R2[2] -> L1B
 *   L1  0x8000_8000  [1] -> L0, [2] 2 MiB leaf -> S, [3] invalid
 *   L0  0x8000_9000  [1] -> F1, [2] -> F2, [3] invalid
 *   L1B 0x8000_b000  [1] -> L0B;   L0B 0x8000_a000  [1] -> F7, [2] -> F8
 *   L0S 0x8000_c000  [1] -> F5, [2] -> F6 (the table a superpage split installs)
 *   L0C 0x8000_d000  [1] -> F9 (the table an invalid L1 entry is made to point to)
 * GPAs: A 0x8020_1000 (vpn 2,1,1), B 0x8020_2000, C 0x8020_3000, SP1/SP2 0x8040_1000/2000
 * (inside the superpage), D 0x8060_1000 (under the invalid L1[3]).
 */
import { describe, expect, test } from 'vitest';
import { type Gpa, gpa, hex, hpa } from './address.ts';
import {
  type GStageAction, type GStageConfig, type GStageReference, OutsideGStageUniverseError, allowedGStage, freshGStage, gStageStep,
  initialGStageReference,
} from './gstage-reference.ts';
import { type Memory, emptyMemory, writeWord } from './memory.ts';
import { PTE_A, PTE_D, type PteFields, encodePte } from './pte.ts';
import { type GStageContext, gOutcomeKey } from './two-stage.ts';

const cfg: GStageConfig = { ramBasePage: 0x80000n, ramPages: 0x10000n, vmidLen: 14, svade: true };

const R = 0x8000_0000n;
const R2 = 0x8000_4000n;
const L1 = 0x8000_8000n;
const L0 = 0x8000_9000n;
const L0B = 0x8000_a000n;
const L1B = 0x8000_b000n;
const L0S = 0x8000_c000n;
const L0C = 0x8000_d000n;
const F = (n: bigint): bigint => 0x8100_0000n + n * 0x1000n;
const S = 0x8200_0000n; // 2 MiB aligned

const A = gpa(0x8020_1000n);
const B = gpa(0x8020_2000n);
const C = gpa(0x8020_3000n);
const SP1 = gpa(0x8040_1000n);
const SP2 = gpa(0x8040_2000n);
const D = gpa(0x8060_1000n);

const at = (table: bigint, i: bigint): bigint => table + i * 8n;
const ptr = (table: bigint, f: Omit<PteFields, 'ppn'> = {}): bigint => encodePte({ ppn: table >> 12n, ...f });
const leaf = (frame: bigint, f: Omit<PteFields, 'ppn'> = { r: true, w: true, x: true, a: true, d: true }): bigint =>
  encodePte({ ppn: frame >> 12n, u: true, ...f });

function boot(): Memory {
  const words: [bigint, bigint][] = [
    [at(R, 2n), ptr(L1)], [at(R2, 2n), ptr(L1B)],
    [at(L1, 1n), ptr(L0)], [at(L1, 2n), leaf(S)],
    [at(L0, 1n), leaf(F(1n))], [at(L0, 2n), leaf(F(2n))],
    [at(L1B, 1n), ptr(L0B)], [at(L0B, 1n), leaf(F(7n))], [at(L0B, 2n), leaf(F(8n))],
    [at(L0S, 1n), leaf(F(5n))], [at(L0S, 2n), leaf(F(6n))],
    [at(L0C, 1n), leaf(F(9n))],
  ];
  return words.reduce((m, [a, v]) => writeWord(m, a, v), emptyMemory);
}

const hgatp = (vmid: number, root: bigint): GStageAction => ({ kind: 'hgatp', hgatp: { mode: 'sv39x4', vmid, rootPpn: root >> 12n } });
const bare: GStageAction = { kind: 'hgatp', hgatp: { mode: 'bare' } };
const store = (addr: bigint, value: bigint): GStageAction => ({ kind: 'hostStore', addr: hpa(addr), value });
const fence = (rs1: bigint | null, rs2: number | null): GStageAction => ({ kind: 'hfenceGvma', rs1: rs1 === null ? null : gpa(rs1), rs2 });

const start = (c: GStageConfig = cfg): GStageReference => initialGStageReference(c, [A, B, C, SP1, SP2, D], boot());
const run = (s: GStageReference, ...actions: GStageAction[]): GStageReference => actions.reduce(gStageStep, s);

const load: GStageContext = { kind: 'load', mxr: false };
const allowed = (s: GStageReference, a: Gpa, ctx: GStageContext = load): string[] => allowedGStage(s, a, ctx).map(gOutcomeKey);
const ok = (h: bigint): string => `ok hpa=${hex(h)}`;
const gpf = (a: bigint): string => `guest-page-fault gpa=${hex(a)}`;
const set = (...keys: string[]): string[] => [...keys].sort();

describe('a G-stage leaf changed', () => {
  // VMID 1 on root R has translated A (the walk's reads are cached); the hypervisor retargets A's leaf F1 -> F3.
  const changed = (): GStageReference => run(start(), hgatp(1, R), store(at(L0, 1n), leaf(F(3n))));

  test('before the change only the walk of memory is allowed', () => {
    expect(allowed(run(start(), hgatp(1, R)), A)).toEqual(set(ok(F(1n))));
  });

  test('without a fence: the old leaf or the new one', () => {
    expect(allowed(changed(), A)).toEqual(set(ok(F(1n)), ok(F(3n))));
    expect(freshGStage(changed(), A, load)).toEqual({ kind: 'ok', hpa: F(3n), adUpdate: null });
  });

  test('after HFENCE.GVMA A (with its VMID, or every VMID): the new leaf only', () => {
    expect(allowed(run(changed(), fence(A, 1)), A)).toEqual(set(ok(F(3n))));
    expect(allowed(run(changed(), fence(A, null)), A)).toEqual(set(ok(F(3n))));
    // rs1 names an address, not a page: any address in the page fences it.
    expect(allowed(run(changed(), fence(A + 0xff8n, 1)), A)).toEqual(set(ok(F(3n))));
  });

  test('HFENCE.GVMA of another GPA, or of the same GPA for another VMID: no effect', () => {
    expect(allowed(run(changed(), fence(B, 1)), A)).toEqual(set(ok(F(1n)), ok(F(3n))));
    expect(allowed(run(changed(), fence(A, 2)), A)).toEqual(set(ok(F(1n)), ok(F(3n))));
  });

  test('rs1=x0: with another VMID no effect; with this VMID or every VMID the new leaf only', () => {
    expect(allowed(run(changed(), fence(null, 2)), A)).toEqual(set(ok(F(1n)), ok(F(3n))));
    expect(allowed(run(changed(), fence(null, 1)), A)).toEqual(set(ok(F(3n))));
    expect(allowed(run(changed(), fence(null, null)), A)).toEqual(set(ok(F(3n))));
  });

  test('VMID bits beyond VMIDLEN are ignored, in hgatp and in rs2', () => {
    const narrow = { ...cfg, vmidLen: 2 };
    const s = run(start(narrow), hgatp(5, R), store(at(L0, 1n), leaf(F(3n)))); // VMID 5 is VMID 1
    expect(allowed(s, A)).toEqual(set(ok(F(1n)), ok(F(3n))));
    expect(allowed(run(s, fence(A, 9)), A)).toEqual(set(ok(F(3n)))); // 9 is VMID 1 too
  });

  test('the leaf made read-only: a stale store may still succeed, or fault', () => {
    const s = run(start(), hgatp(1, R), store(at(L0, 1n), leaf(F(1n), { r: true, a: true, d: true })));
    expect(allowed(s, A, { kind: 'store', mxr: false })).toEqual(set(ok(F(1n)), gpf(A)));
    expect(allowed(run(s, fence(A, 1)), A, { kind: 'store', mxr: false })).toEqual(set(gpf(A)));
  });
});

describe('a 2 MiB G-stage superpage split into a pointer to an L0 table', () => {
  // L1[2] maps GPA 0x8040_0000.. to S as one 2 MiB leaf; the split points it to L0S, whose
  // leaves map SP1 and SP2 to other frames (a remap, so the outcomes tell the paths apart).
  const split = (): GStageReference => run(start(), hgatp(1, R), store(at(L1, 2n), ptr(L0S)));

  test('before: one leaf for every GPA inside the superpage', () => {
    const s = run(start(), hgatp(1, R));
    expect(allowed(s, SP1)).toEqual(set(ok(S + 0x1000n)));
    expect(allowed(s, SP2)).toEqual(set(ok(S + 0x2000n)));
  });

  test('without a fence: the superpage or the new L0 leaf, for each GPA inside it', () => {
    expect(allowed(split(), SP1)).toEqual(set(ok(S + 0x1000n), ok(F(5n))));
    expect(allowed(split(), SP2)).toEqual(set(ok(S + 0x2000n), ok(F(6n))));
  });

  test('after HFENCE.GVMA SP1: the superpage leaf is gone for every GPA inside it, SP2 too', () => {
    // The level-1 entry holding the leaf covers SP1, so the fence removes it: for SP2 as well,
    // since it is one entry. What remains at level 1 is the new pointer (a valid pointer survives
    // an rs1=gpa fence, and it is also memory's value), and below it L0S's leaves, read from memory.
    const s = run(split(), fence(SP1, 1));
    expect(allowed(s, SP1)).toEqual(set(ok(F(5n))));
    expect(allowed(s, SP2)).toEqual(set(ok(F(6n))));
  });

  test('but a pointer cached before the superpage was installed survives the rs1=gpa fence', () => {
    // L1[2] first pointed to L0C (SP1's walk cached it, and L0C[1] = F9), then became the
    // superpage without an rs1=x0 fence, then is split to L0S. HFENCE.GVMA SP1 removes both
    // leaves for SP1 (the superpage at level 1, F9 at level 0) but not the old pointer, and L0C[1]
    // still holds F9 in memory: the walk through the old pointer is still allowed.
    const s = run(start(), store(at(L1, 2n), ptr(L0C)), hgatp(1, R), store(at(L1, 2n), leaf(S)), store(at(L1, 2n), ptr(L0S)), fence(SP1, 1));
    expect(allowed(s, SP1)).toEqual(set(ok(F(5n)), ok(F(9n))));
    // L0C[2] is empty: through the old pointer, SP2 faults.
    expect(allowed(s, SP2)).toEqual(set(ok(F(6n)), gpf(SP2)));
    expect(allowed(run(s, fence(null, 1)), SP1)).toEqual(set(ok(F(5n))));
  });
});

describe('a pointer changed', () => {
  // L1[1] moves from L0 (A -> F1) to L0B (A -> F7).
  const moved = (): GStageReference => run(start(), hgatp(1, R), store(at(L1, 1n), ptr(L0B)));

  test('without a fence: either path', () => {
    expect(allowed(moved(), A)).toEqual(set(ok(F(1n)), ok(F(7n))));
  });

  test('only an rs1=gpa fence: the old path is still allowed (the cached pointer survives, L0 still holds F1)', () => {
    expect(allowed(run(moved(), fence(A, 1)), A)).toEqual(set(ok(F(1n)), ok(F(7n))));
    expect(allowed(run(moved(), fence(A, null)), A)).toEqual(set(ok(F(1n)), ok(F(7n))));
  });

  test('an rs1=x0 fence: the new path only', () => {
    expect(allowed(run(moved(), fence(null, 1)), A)).toEqual(set(ok(F(7n))));
  });
});

describe('invalid entries and the rs1=gpa fence (decision 0006, choices 2 and 8)', () => {
  test('an invalid leaf made valid: the fault until HFENCE.GVMA gpa', () => {
    const s = run(start(), hgatp(1, R), store(at(L0, 3n), leaf(F(4n))));
    expect(allowed(s, C)).toEqual(set(ok(F(4n)), gpf(C)));
    expect(allowed(run(s, fence(C, 1)), C)).toEqual(set(ok(F(4n))));
  });

  test('an invalid entry made a valid pointer: the fault survives HFENCE.GVMA gpa, not rs1=x0', () => {
    const s = run(start(), hgatp(1, R), store(at(L1, 3n), ptr(L0C)));
    expect(allowed(s, D)).toEqual(set(ok(F(9n)), gpf(D)));
    expect(allowed(run(s, fence(D, 1)), D)).toEqual(set(ok(F(9n)), gpf(D)));
    expect(allowed(run(s, fence(null, 1)), D)).toEqual(set(ok(F(9n))));
  });
});

describe('hgatp writes', () => {
  test('another root, same VMID, no fence: the old root’s translations are still allowed', () => {
    const s = run(start(), hgatp(1, R), hgatp(1, R2));
    expect(allowed(s, A)).toEqual(set(ok(F(1n)), ok(F(7n))));
    // A new root is a changed pointer: the old root's cached pointer R[2] -> L1 survives an
    // rs1=gpa fence, and memory below it still gives F1. Only rs1=x0 orders it.
    expect(allowed(run(s, fence(A, 1)), A)).toEqual(set(ok(F(1n)), ok(F(7n))));
    expect(allowed(run(s, fence(null, 1)), A)).toEqual(set(ok(F(7n))));
  });

  test('another VMID: nothing cached under the first is used', () => {
    expect(allowed(run(start(), hgatp(1, R), hgatp(2, R2)), A)).toEqual(set(ok(F(7n))));
    expect(allowed(run(start(), hgatp(1, R), hgatp(2, R2), hgatp(1, R2)), A)).toEqual(set(ok(F(1n)), ok(F(7n))));
  });

  test('the G bit is ignored: a G pointer shares nothing between VMIDs', () => {
    const s0 = run(start(), store(at(R, 2n), ptr(L1, { g: true })), store(at(L1, 1n), ptr(L0, { g: true })));
    const s = run(s0, hgatp(1, R), store(at(L0, 1n), leaf(F(3n))), hgatp(2, R));
    expect(allowed(s, A)).toEqual(set(ok(F(3n))));
  });

  test('MODE changes for VMID 0 need an rs1=x0 fence: until then either translation', () => {
    // A fence while Bare is in effect leaves Bare's identity cacheable: fence after the switch.
    expect(allowed(run(start(), fence(null, null), hgatp(0, R)), A)).toEqual(set(ok(A), ok(F(1n))));
    const sv = run(start(), hgatp(0, R), fence(null, null));
    expect(allowed(sv, A)).toEqual(set(ok(F(1n))));
    // Sv39x4 -> Bare: the identity, or the cached Sv39x4 walk (no table is read in Bare).
    const b = run(sv, bare);
    expect(allowed(b, A)).toEqual(set(ok(A), ok(F(1n))));
    expect(allowed(run(b, fence(A, 0)), A)).toEqual(set(ok(A)));
    expect(allowed(run(b, fence(null, 0)), A)).toEqual(set(ok(A)));
    // Bare -> Sv39x4: the walk, or the identity Bare may have cached; rs1=gpa is not enough.
    const back = run(b, hgatp(0, R));
    expect(allowed(back, A)).toEqual(set(ok(A), ok(F(1n))));
    expect(allowed(run(back, fence(A, 0)), A)).toEqual(set(ok(A), ok(F(1n))));
    expect(allowed(run(back, fence(null, 1)), A)).toEqual(set(ok(A), ok(F(1n))));
    expect(allowed(run(back, fence(null, 0)), A)).toEqual(set(ok(F(1n))));
    // Another VMID never ran Bare.
    expect(allowed(run(b, hgatp(1, R)), A)).toEqual(set(ok(F(1n))));
    // Bare outside RAM: an access fault.
    const low = gpa(0x1000n);
    expect(allowed(run(initialGStageReference(cfg, [low], boot()), fence(null, null), bare), low)).toEqual(['access-fault']);
  });
});

describe('access types, PMA and A/D', () => {
  test('an execute-only leaf: the explicit load with HS-level MXR reads it; the implicit load of a VS PTE does not', () => {
    const s = run(start(), store(at(L0, 1n), leaf(F(1n), { x: true, a: true, d: true })), hgatp(1, R));
    expect(allowed(s, A, { kind: 'load', mxr: true })).toEqual(set(ok(F(1n))));
    expect(allowed(s, A, { kind: 'load', mxr: false })).toEqual(set(gpf(A)));
    expect(allowed(s, A, { kind: 'fetch', mxr: false })).toEqual(set(ok(F(1n))));
  });

  test('a leaf or a table outside host RAM: an access fault; a GPA beyond 41 bits: a guest-page fault', () => {
    const s = run(start(), store(at(L0, 1n), leaf(0x1000n)), store(at(L1, 3n), ptr(0x2000n)), hgatp(1, R));
    expect(allowed(s, A)).toEqual(['access-fault']);
    expect(allowed(s, D)).toEqual(['access-fault']);
    expect(allowed(s, gpa(1n << 41n))).toEqual([gpf(1n << 41n)]);
  });

  test('Svadu: a leaf needing A/D completes only with memory’s PTE, never a stale cached one', () => {
    const svadu = { ...cfg, svade: false };
    const noA = (frame: bigint) => leaf(frame, { r: true, w: true });
    const s = run(start(svadu), store(at(L0, 1n), noA(F(1n))), hgatp(1, R), store(at(L0, 1n), noA(F(3n))));
    expect(allowed(s, A)).toEqual(set(`${ok(F(3n))} A/D@${hex(at(L0, 1n))}=${hex(noA(F(3n)) | PTE_A)}`));
    expect(allowed(s, A, { kind: 'store', mxr: false })).toEqual(set(`${ok(F(3n))} A/D@${hex(at(L0, 1n))}=${hex(noA(F(3n)) | PTE_A | PTE_D)}`));
  });

  test('a GPA outside the universe is refused', () => {
    expect(() => allowed(run(start(), hgatp(1, R)), gpa(0x8020_7000n))).toThrow(OutsideGStageUniverseError);
  });
});
