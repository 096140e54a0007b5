/**
 * The N-hart reference (spec/harts.ts) and the SBI remote fence (spec/sbi.ts)
 * against the one-hart reference, on random programs over a tiny machine:
 *
 * - with one hart it is the one-hart reference, step for step: the same allowed
 *   sets and the same state after every step;
 * - with 2 to 4 harts, a hart whose memory no other hart changes and whom no
 *   other hart fences sees exactly what a one-hart reference running its own
 *   steps sees, whatever the others do (satp, SUM, MXR, their own fences, loads,
 *   SBI calls that do not name it);
 * - with 2 to 4 harts doing anything, each hart is the one-hart reference fed its
 *   own steps, every other hart's memory writes as stores, and each SBI remote
 *   fence that names it as that hart's range fence;
 * - a range fence is SFENCE.VMA rs1 = va of every page the range touches, and a
 *   whole-space call SFENCE.VMA rs1 = x0 (SBI spec, "RFENCE Extension").
 *
 * Self-contained: the seed is SSP_SPEC_SEED or drawn, and printed; SSP_SPEC_RUNS
 * deepens it (default 100 programs per property).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { type Gpa, type Gva, gpa, gva } from './address.ts';
import { type GuestConfig, defaultGuestConfig } from './config.ts';
import { type AccessAction, type GuestAction, type Outcome, outcomeWrites } from './guest-action.ts';
import {
  type HartStep, type HartsState, MAX_HARTS, hartView, hartsAccess, hartsAllowedOutcomes, hartsRun, hartsSbi, hartsStep, initialHarts,
} from './harts.ts';
import { emptyMemory, writeWord } from './memory.ts';
import { encodePte, isValidLeaf } from './pte.ts';
import { type CachedPte, type ReferenceState, allowedOutcomes, initialReference, referenceAccess, referenceStep } from './reference.ts';
import {
  SBI_ERR_INVALID_PARAM, SBI_SUCCESS, type SbiCall, addressTouching, entrySpan, fenceRange, rangeSfence, selectHarts,
} from './sbi.ts';

const SEED = (() => {
  const raw = process.env.SSP_SPEC_SEED;
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 0 || n > 0xffff_ffff) throw new Error(`SSP_SPEC_SEED must be 0 to 4294967295, got ${raw}`);
    return n;
  }
  return (Date.now() ^ Math.floor(Math.random() * 0x1_0000_0000)) >>> 0;
})();
const RUNS = Number(process.env.SSP_SPEC_RUNS ?? '') || 100;
console.log(`spec/harts.test.ts: seed ${SEED}, ${RUNS} programs per property (SSP_SPEC_SEED=${SEED} reproduces)`);
/** fast-check takes a signed 32-bit seed with the same bits. */
const fcParams = (offset: number) => ({ numRuns: RUNS, seed: (SEED + offset) | 0 });

const ONES = (1n << 64n) - 1n;

// ---- the machine: page-table frames, data frames, pages that share upper slots -------------------------

const PT_FRAMES = [0x80000n, 0x80001n, 0x80002n, 0x80003n];
const DATA_FRAMES = [0x80008n, 0x80009n];
/** vpn[2]=1 for all; vpn[1]=0 for the first two (vpn[0]=1, 2), vpn[1]=1 for the third. */
const PAGES = [gva(0x4000_1000n), gva(0x4000_2000n), gva(0x4020_1000n)];
const SLOTS = [0n, 1n, 2n];
const ROOTS = [0x80000n, 0x80001n];
const pointer = (ppn: bigint, g = false): bigint => encodePte({ ppn, g });

/** A tree every program starts from: root 0x80000 → 0x80001 → {0x80002, 0x80003} → data. */
const BOOT: readonly [Gpa, bigint][] = [
  [gpa(0x8000_0008n), pointer(0x80001n)],
  [gpa(0x8000_1000n), pointer(0x80002n)],
  [gpa(0x8000_1008n), pointer(0x80003n)],
  [gpa(0x8000_2008n), encodePte({ ppn: 0x80008n, r: true, w: true, a: true, d: true })],
  [gpa(0x8000_2010n), encodePte({ ppn: 0x80009n, r: true, w: true, x: true, g: true, a: true, d: true })],
  [gpa(0x8000_3008n), encodePte({ ppn: 0x80008n, r: true, u: true, a: true })],
];
const bootMemory = BOOT.reduce((m, [a, v]) => writeWord(m, a, v), emptyMemory);
/** Every program begins with this satp write on every hart, so that walks begin at once. */
const SATP = { kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: 0x80000n } } as const satisfies GuestAction;

const bit = fc.boolean();
const pteArb: fc.Arbitrary<bigint> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...PT_FRAMES), fc.boolean()).map(([ppn, g]) => pointer(ppn, g)) },
  {
    weight: 5,
    arbitrary: fc.tuple(fc.constantFrom(...DATA_FRAMES), fc.record({ r: bit, w: bit, x: bit, u: bit, g: bit, a: bit, d: bit }))
      .map(([ppn, f]) => encodePte({ ppn, ...f })),
  },
  // ppn 0x80000 is aligned for 2 MiB and 1 GiB leaves.
  { weight: 1, arbitrary: fc.record({ w: bit, g: bit }).map((f) => encodePte({ ppn: 0x80000n, r: true, a: true, d: true, ...f })) },
  { weight: 2, arbitrary: fc.constant(0n) },
);

const pageArb = fc.constantFrom(...PAGES);
const accessArb: fc.Arbitrary<AccessAction> = fc.record({
  va: fc.tuple(pageArb, fc.constantFrom(0n, 0x8n, 0xff8n)).map(([p, o]) => gva(p + o)),
  access: fc.constantFrom('load', 'store', 'fetch'),
  priv: fc.constantFrom('S', 'U'),
  value: fc.bigInt({ min: 0n, max: ONES }),
}).map((a): AccessAction => ({ kind: 'access', ...a }));

const rs1Arb: fc.Arbitrary<Gva | null> = fc.oneof(
  fc.constant(null),
  pageArb,
  // Inside the 2 MiB and 1 GiB the pages lie in, on no page of theirs; and a non-canonical address.
  fc.constantFrom(gva(0x4010_0000n), gva(0x7000_0000n), gva(0x40_0000_1000n)),
);

/** Everything a hart does to its own state or to memory. */
const guestArb: fc.Arbitrary<GuestAction> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...PT_FRAMES), fc.constantFrom(...SLOTS), pteArb).map(([f, s, value]): GuestAction => ({ kind: 'ptStore', addr: gpa((f << 12n) + s * 8n), value })) },
  { weight: 6, arbitrary: accessArb },
  {
    weight: 2,
    arbitrary: fc.oneof(
      { weight: 1, arbitrary: fc.constant<GuestAction>({ kind: 'satp', satp: { mode: 'bare' } }) },
      { weight: 5, arbitrary: fc.tuple(fc.constantFrom(1, 2), fc.constantFrom(...ROOTS)).map(([asid, rootPpn]): GuestAction => ({ kind: 'satp', satp: { mode: 'sv39', asid, rootPpn } })) },
    ),
  },
  { weight: 2, arbitrary: fc.tuple(rs1Arb, fc.constantFrom(null, 1, 2)).map(([rs1, rs2]): GuestAction => ({ kind: 'sfence', rs1, rs2 })) },
  { weight: 1, arbitrary: fc.boolean().map((value): GuestAction => ({ kind: 'sum', value })) },
  { weight: 1, arbitrary: fc.boolean().map((value): GuestAction => ({ kind: 'mxr', value })) },
);

/** Ranges that matter: the whole-space encodings, pages, bytes, superpages, their edges, wrap-around, size 0, nearly everything. */
const rangeArb: fc.Arbitrary<{ startAddr: bigint; size: bigint }> = fc.oneof(
  fc.constantFrom(
    { startAddr: 0n, size: 0n },
    { startAddr: 0x4000_1000n, size: ONES },
    { startAddr: 0n, size: ONES - 1n },
    { startAddr: 0x4000_1000n, size: 0n },
    { startAddr: 0x4000_0000n, size: 0x20_0000n },
    { startAddr: 0x4010_0000n, size: 0x1000n },
    { startAddr: 0x3fff_f000n, size: 0x1001n },
    { startAddr: 0xffff_ffff_ffff_e000n, size: 0x3000n },
  ),
  fc.tuple(pageArb, fc.integer({ min: -3, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.bigInt({ min: 0n, max: 0xfffn }))
    .map(([p, d, pages, bytes]) => ({ startAddr: BigInt.asUintN(64, p + BigInt(d) * 0x1000n), size: BigInt(pages) * 0x1000n + bytes })),
);
/** Mostly hart lists that name harts of an n-hart guest; now and then one that does not. */
const maskArb = (n: number) => fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 0n, max: (1n << BigInt(n)) - 1n }) },
  { weight: 1, arbitrary: fc.oneof(fc.bigInt({ min: 0n, max: 0xfn }), fc.constant(1n << 63n)) },
);
const baseArb = (n: number) => fc.oneof({ weight: 6, arbitrary: fc.constant(0n) }, { weight: 2, arbitrary: fc.constantFrom(1n, ONES) }, { weight: 1, arbitrary: fc.constant(BigInt(n)) });
const sbiArb = (n: number): fc.Arbitrary<SbiCall> => fc.tuple(maskArb(n), baseArb(n), rangeArb, fc.option(fc.constantFrom(1n, 2n, 0x1_0001n))).map(
  ([hartMask, hartMaskBase, range, asid]): SbiCall =>
    asid === null ? { kind: 'remoteSfenceVma', hartMask, hartMaskBase, ...range } : { kind: 'remoteSfenceVmaAsid', hartMask, hartMaskBase, ...range, asid },
);

const cfgArb: fc.Arbitrary<GuestConfig> = fc.record({ svade: fc.boolean(), walksInFlight: fc.boolean() }).map((c) => ({ ...defaultGuestConfig, ...c }));

/** An index into an allowed set: which outcome an access takes (stale ones too). */
const pick = (allowed: readonly Outcome[], p: number): Outcome => allowed[p % allowed.length] as Outcome;

/** Counts that show the programs reach what the properties are about; printed, and floors checked. */
const seen = { steps: 0, accesses: 0, stale: 0, sbiSuccess: 0, sbiInvalid: 0, otherHartStores: 0, staleSeveral: 0, rangeRemoved: 0, rangeRemovedSuperpage: 0, othersKept: 0 };
afterAll(() => console.log('spec/harts.test.ts:', JSON.stringify(seen)));

// ---- N = 1: the one-hart reference, step for step ----------------------------------------------------

describe('one hart', () => {
  test('is the one-hart reference: equal allowed sets at every access, equal states after every step', () => {
    const arb = fc.tuple(cfgArb, fc.array(fc.tuple(guestArb, fc.nat()), { minLength: 10, maxLength: 40 }));
    fc.assert(
      fc.property(arb, ([cfg, program]) => {
        let ref = initialReference(cfg, PAGES, bootMemory);
        let harts = initialHarts(cfg, 1, PAGES, bootMemory);
        for (const [a, p] of [[SATP, 0] as const, ...program]) {
          seen.steps++;
          if (a.kind === 'access') {
            const allowed = allowedOutcomes(ref, a);
            expect(hartsAllowedOutcomes(harts, 0, a)).toEqual(allowed);
            const o = pick(allowed, p);
            seen.accesses++;
            if (allowed.length > 1) seen.stale++;
            ref = referenceAccess(ref, a, o);
            harts = hartsAccess(harts, 0, a, o);
          } else {
            ref = referenceStep(ref, a);
            harts = hartsStep(harts, 0, a);
          }
          expect(hartView(harts, 0)).toEqual(ref);
        }
      }),
      fcParams(0),
    );
    expect(seen.stale).toBeGreaterThan(RUNS / 4);
  });

  test('an SBI call naming the one hart is SFENCE.VMA: rs1=x0 for the whole space, rs1=va for a one-page range', () => {
    const arb = fc.tuple(cfgArb, fc.array(guestArb.filter((a) => a.kind !== 'access'), { maxLength: 12 }), pageArb, fc.option(fc.constantFrom(1, 2)), fc.boolean());
    fc.assert(
      fc.property(arb, ([cfg, program, page, asid, whole]) => {
        let ref = initialReference(cfg, PAGES, bootMemory);
        for (const a of [SATP, ...program]) ref = referenceStep(ref, a);
        const harts: HartsState = { harts: [ref] };
        const range = whole ? { startAddr: 0n, size: 0n } : { startAddr: page, size: 0x1000n };
        const call: SbiCall = asid === null
          ? { kind: 'remoteSfenceVma', hartMask: 1n, hartMaskBase: 0n, ...range }
          : { kind: 'remoteSfenceVmaAsid', hartMask: 1n, hartMaskBase: 0n, ...range, asid: BigInt(asid) };
        const { state, ret } = hartsSbi(harts, 0, call);
        expect(ret.error).toBe(SBI_SUCCESS);
        expect(hartView(state, 0)).toEqual(referenceStep(ref, { kind: 'sfence', rs1: whole ? null : page, rs2: asid }));
      }),
      fcParams(1),
    );
  });
});

// ---- a range fence is SFENCE.VMA of every page it touches --------------------------------------------

/** Every page-aligned address of [start, start+size) modulo 2^64, for small sizes. */
function pagesTouched(startAddr: bigint, size: bigint): Gva[] {
  if (size === 0n) return [];
  const first = startAddr & ~0xfffn;
  const last = BigInt.asUintN(64, startAddr + size - 1n) & ~0xfffn;
  const out: Gva[] = [];
  for (let p = first; ; p = BigInt.asUintN(64, p + 0x1000n)) {
    out.push(gva(p));
    if (p === last) return out;
  }
}

/** The entries of `before`'s cache that `after`'s lacks. */
function removedEntries(before: ReferenceState, after: ReferenceState): CachedPte[] {
  const id = (e: CachedPte) => `${e.level}:${e.prefix}:${String(e.tag)}:${e.pteAddr}:${e.pte}`;
  const kept = new Set([...after.cache.values()].flat().map(id));
  return [...before.cache.values()].flat().filter((e) => !kept.has(id(e)));
}

describe('range fence', () => {
  test('is SFENCE.VMA rs1=va, rs2 of every page the range touches, one after the other', () => {
    // The program ends by changing a PTE on the boot tree (a leaf, or a level-1 slot to a 2 MiB leaf), so the hart
    // holds stale entries; the range starts near what the change maps, or at an edge, or anywhere near the pages.
    const superpage = (ppn: bigint) => fc.record({ w: bit, g: bit }).map((f) => encodePte({ ppn, r: true, a: true, d: true, ...f }));
    const newLeaf = fc.oneof(pteArb, fc.constantFrom(...DATA_FRAMES).map((ppn) => encodePte({ ppn, r: true, a: true })));
    const store = (addr: bigint, value: bigint): [GuestAction, number] => [{ kind: 'ptStore', addr: gpa(addr), value }, 0];
    const change = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom([0x8000_2008n, 0x4000_1000n], [0x8000_2010n, 0x4000_2000n], [0x8000_3008n, 0x4020_1000n])
          .chain(([addr, near]) => newLeaf.map((value) => ({ last: [store(addr as bigint, value)], near: near as bigint }))),
      },
      // A 2 MiB leaf the hart caches, then moved: the range near any of its 512 pages.
      {
        weight: 2,
        arbitrary: fc.tuple(fc.constantFrom([0x8000_1000n, 0x4000_0000n], [0x8000_1008n, 0x4020_0000n]), superpage(0x80000n), superpage(0x80200n), fc.nat({ max: 511 }))
          .map(([[addr, sp], before, after, page]) => ({ last: [store(addr as bigint, before), store(addr as bigint, after)], near: (sp as bigint) + BigInt(page) * 0x1000n })),
      },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...BOOT.map(([addr]) => addr)), pteArb, pageArb).map(([addr, value, near]) => ({ last: [store(addr, value)], near: near as bigint })) },
    );
    const rangeNear = (near: bigint) => fc.tuple(
      fc.oneof(
        { weight: 3, arbitrary: fc.constant(near) },
        // Superpage and gigapage edges, the top of the lower half, the top of the address space.
        { weight: 1, arbitrary: fc.constantFrom(0x4000_0000n, 0x401f_f000n, 0x4020_0000n, 0x3fff_e000n, 0x3f_ffff_f000n, 0xffff_ffff_ffff_e000n) },
      ),
      fc.integer({ min: -2, max: 1 }),
      fc.bigInt({ min: 0n, max: 0x5fffn }),
    ).map(([base, d, size]) => ({ startAddr: BigInt.asUintN(64, base + BigInt(d) * 0x800n), size }));
    const arb = fc.tuple(cfgArb, fc.array(fc.tuple(guestArb, fc.nat()), { maxLength: 8 }), change.chain(({ last, near }) => fc.tuple(fc.constant(last), rangeNear(near))), fc.constantFrom(null, null, 1, 1, 2))
      .map(([cfg, program, [last, range], asid]) => [cfg, program, last, range, asid] as const);
    fc.assert(
      fc.property(arb, ([cfg, program, last, { startAddr, size }, asid]) => {
        fc.pre(!(startAddr === 0n && size === 0n));
        let ref = initialReference(cfg, PAGES, bootMemory);
        for (const [a, p] of [[SATP, 0] as const, ...program, ...last]) ref = a.kind === 'access' ? referenceAccess(ref, a, pick(allowedOutcomes(ref, a), p)) : referenceStep(ref, a);
        const range = fenceRange(startAddr, size);
        const byRange = rangeSfence(ref, range, asid === null ? null : BigInt(asid));
        const byPages = pagesTouched(startAddr, size).reduce((s, va) => referenceStep(s, { kind: 'sfence', rs1: va, rs2: asid }), ref);
        expect(byRange).toEqual(byPages);
        const removed = removedEntries(ref, byRange);
        if (removed.length > 0) seen.rangeRemoved++;
        if (removed.some((e) => e.level > 0 && isValidLeaf(e.pte))) seen.rangeRemovedSuperpage++;
      }),
      fcParams(2),
    );
    expect(seen.rangeRemoved).toBeGreaterThan(RUNS / 10);
    expect(seen.rangeRemovedSuperpage).toBeGreaterThan(RUNS / 50);
  });

  test('the whole-space encodings are rs1=x0: (0, 0) and size 2^64-1 from any start', () => {
    expect(fenceRange(0n, 0n)).toEqual({ kind: 'all' });
    expect(fenceRange(0x4000_1000n, ONES)).toEqual({ kind: 'all' });
    expect(fenceRange(0n, -1n)).toEqual({ kind: 'all' });
    expect(fenceRange(0x4000_1000n, 0n)).toEqual({ kind: 'addresses', intervals: [] });
    expect(fenceRange(0n, ONES - 1n)).toEqual({ kind: 'addresses', intervals: [{ lo: 0n, hi: ONES - 2n }] });
    expect(fenceRange(ONES - 0xfffn, 0x2000n)).toEqual({ kind: 'addresses', intervals: [{ lo: ONES - 0xfffn, hi: ONES }, { lo: 0n, hi: 0xfffn }] });
  });

  test('an entry covers its page, superpage or gigapage, sign-extended in the upper half', () => {
    expect(entrySpan({ level: 0, prefix: 0x4_0001n })).toEqual({ lo: 0x4000_1000n, hi: 0x4000_1fffn });
    expect(entrySpan({ level: 1, prefix: 0x200n })).toEqual({ lo: 0x4000_0000n, hi: 0x401f_ffffn });
    expect(entrySpan({ level: 2, prefix: 1n })).toEqual({ lo: 0x4000_0000n, hi: 0x7fff_ffffn });
    expect(entrySpan({ level: 2, prefix: 0x1ffn })).toEqual({ lo: ONES - 0x3fff_ffffn, hi: ONES });
    expect(entrySpan({ level: 0, prefix: 0x7ff_ffffn })).toEqual({ lo: ONES - 0xfffn, hi: ONES });
    // Entries never cover a non-canonical address, so a range of them touches none.
    expect(addressTouching({ level: 2, prefix: 0xffn }, [{ lo: 0x40_0000_0000n, hi: ONES - 0x40_0000_0000n }])).toBeNull();
    expect(addressTouching({ level: 1, prefix: 0x200n }, [{ lo: 0x3fff_f000n, hi: 0x3fff_ffffn }])).toBeNull();
    expect(addressTouching({ level: 1, prefix: 0x200n }, [{ lo: 0x3fff_f000n, hi: 0x4000_0000n }])).toBe(0x4000_0000n);
  });
});

// ---- the hart list -------------------------------------------------------------------------------------

describe('hart mask', () => {
  test('base -1 is every hart; bit i is hart base+i; any hart or base that does not exist is SBI_ERR_INVALID_PARAM', () => {
    expect(selectHarts(0n, ONES, 3)).toEqual({ kind: 'harts', harts: [0, 1, 2] });
    expect(selectHarts(0n, -1n, 2)).toEqual({ kind: 'harts', harts: [0, 1] });
    expect(selectHarts(0b101n, 0n, 3)).toEqual({ kind: 'harts', harts: [0, 2] });
    expect(selectHarts(0b11n, 1n, 3)).toEqual({ kind: 'harts', harts: [1, 2] });
    expect(selectHarts(0n, 2n, 3)).toEqual({ kind: 'harts', harts: [] });
    expect(selectHarts(0b111n, 1n, 3)).toEqual({ kind: 'invalid-param' });
    expect(selectHarts(0n, 3n, 3)).toEqual({ kind: 'invalid-param' });
    expect(selectHarts(1n << 63n, 0n, 4)).toEqual({ kind: 'invalid-param' });
    expect(selectHarts(1n, ONES - 1n, 4)).toEqual({ kind: 'invalid-param' });
  });

  test('an invalid hart list fences no hart and changes nothing', () => {
    const cfg = defaultGuestConfig;
    let s = initialHarts(cfg, 2, PAGES, bootMemory);
    for (const h of [0, 1]) s = hartsStep(s, h, { kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: 0x80000n } });
    s = hartsStep(s, 0, { kind: 'ptStore', addr: gpa(0x8000_2008n), value: 0n });
    const { state, ret } = hartsSbi(s, 0, { kind: 'remoteSfenceVma', hartMask: 0b111n, hartMaskBase: 0n, startAddr: 0n, size: 0n });
    expect(ret.error).toBe(SBI_ERR_INVALID_PARAM);
    expect(state).toBe(s);
  });

  test('harts are 1 to 4', () => {
    expect(() => initialHarts(defaultGuestConfig, 0, PAGES)).toThrow(RangeError);
    expect(() => initialHarts(defaultGuestConfig, MAX_HARTS + 1, PAGES)).toThrow(RangeError);
    expect(() => hartView(initialHarts(defaultGuestConfig, 2, PAGES), 2)).toThrow(RangeError);
  });
});

// ---- N > 1 -------------------------------------------------------------------------------------------

const hartsArb = fc.integer({ min: 2, max: MAX_HARTS });
/** The satp write every hart begins with. */
const boot = (n: number): [HartStep, number][] => Array.from({ length: n }, (_, hart) => [{ kind: 'guest', hart, action: SATP }, 0]);
const stepArb = (n: number): fc.Arbitrary<HartStep> => fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.nat({ max: n - 1 }), guestArb).map(([hart, action]): HartStep => ({ kind: 'guest', hart, action })) },
  { weight: 2, arbitrary: fc.tuple(fc.nat({ max: n - 1 }), sbiArb(n)).map(([hart, call]): HartStep => ({ kind: 'sbi', hart, call })) },
);

/** Does this step, if another hart takes it, leave hart 0's memory and cache alone? (No store, no fence naming hart 0.) */
function sparesHart0(step: HartStep, harts: number): boolean {
  if (step.hart === 0) return true;
  if (step.kind === 'sbi') {
    const sel = selectHarts(step.call.hartMask, step.call.hartMaskBase, harts);
    return sel.kind === 'invalid-param' || !sel.harts.includes(0);
  }
  return step.action.kind !== 'ptStore' && !(step.action.kind === 'access' && step.action.access === 'store');
}

describe('several harts', () => {
  test('a hart no other hart stores for or fences sees what a one-hart reference of its own steps sees', () => {
    const arb = hartsArb.chain((n) => fc.tuple(fc.constant(n), cfgArb, fc.array(fc.tuple(stepArb(n), fc.nat()), { minLength: 10, maxLength: 40 })));
    fc.assert(
      fc.property(arb, ([n, cfg, raw]) => {
        const program = [...boot(n), ...raw.filter(([step]) => sparesHart0(step, n))];
        seen.othersKept += program.filter(([step]) => step.hart !== 0).length - (n - 1);
        let ref = initialReference(cfg, PAGES, bootMemory);
        let harts = initialHarts(cfg, n, PAGES, bootMemory);
        for (const [step, p] of program) {
          // Another hart's access takes an outcome that writes nothing (an A/D update is a store); if it has none, it is not taken.
          const choose = (allowed: readonly Outcome[], _v: ReferenceState, a: AccessAction): Outcome => {
            if (step.hart === 0) return pick(allowed, p);
            const quiet = allowed.filter((o) => outcomeWrites(a, o).length === 0);
            return quiet.length > 0 ? pick(quiet, p) : (allowed[0] as Outcome);
          };
          if (step.kind === 'guest' && step.action.kind === 'access' && step.hart !== 0) {
            const a = step.action;
            if (!hartsAllowedOutcomes(harts, step.hart, a).some((o) => outcomeWrites(a, o).length === 0)) continue;
          }
          const { state, result } = hartsRun(harts, step, choose);
          if (step.hart === 0 && step.kind === 'sbi') {
            // Hart 0's own remote fence may name hart 0: its one-hart reference fences itself as the call says.
            const sel = selectHarts(step.call.hartMask, step.call.hartMaskBase, n);
            const asid = step.call.kind === 'remoteSfenceVmaAsid' ? step.call.asid : null;
            if (sel.kind === 'harts' && sel.harts.includes(0)) ref = rangeSfence(ref, fenceRange(step.call.startAddr, step.call.size), asid);
          }
          if (step.hart === 0 && step.kind === 'guest') {
            const a = step.action;
            if (a.kind === 'access') {
              if (result.kind !== 'access') throw new Error('an access step returns its outcome');
              expect(result.allowed).toEqual(allowedOutcomes(ref, a));
              ref = referenceAccess(ref, a, result.outcome);
            } else {
              ref = referenceStep(ref, a);
            }
          }
          harts = state;
          expect(hartView(harts, 0)).toEqual(ref);
        }
      }),
      fcParams(3),
    );
    expect(seen.othersKept).toBeGreaterThan(RUNS);
  });

  test('each hart is the one-hart reference of its own steps, the others\' stores and the remote fences that name it', () => {
    const arb = hartsArb.chain((n) => fc.tuple(fc.constant(n), cfgArb, fc.array(fc.tuple(stepArb(n), fc.nat()), { minLength: 10, maxLength: 40 })));
    fc.assert(
      fc.property(arb, ([n, cfg, program]) => {
        let refs = Array.from({ length: n }, () => initialReference(cfg, PAGES, bootMemory));
        let harts = initialHarts(cfg, n, PAGES, bootMemory);
        for (const [step, p] of [...boot(n), ...program]) {
          seen.steps++;
          const { state, result } = hartsRun(harts, step, (allowed) => pick(allowed, p));
          if (step.kind === 'sbi') {
            if (result.kind !== 'sbi') throw new Error('an SBI step returns its sbiret');
            const sel = selectHarts(step.call.hartMask, step.call.hartMaskBase, n);
            expect(result.ret.error).toBe(sel.kind === 'harts' ? SBI_SUCCESS : SBI_ERR_INVALID_PARAM);
            if (sel.kind === 'harts') {
              seen.sbiSuccess++;
              const range = fenceRange(step.call.startAddr, step.call.size);
              const asid = step.call.kind === 'remoteSfenceVmaAsid' ? step.call.asid : null;
              refs = refs.map((r, i) => (sel.harts.includes(i) ? rangeSfence(r, range, asid) : r));
            } else {
              seen.sbiInvalid++;
            }
          } else if (step.action.kind === 'access') {
            if (result.kind !== 'access') throw new Error('an access step returns its outcome');
            const a = step.action;
            expect(result.allowed).toEqual(allowedOutcomes(refs[step.hart] as ReferenceState, a));
            if (result.allowed.length > 1) seen.staleSeveral++;
            refs = refs.map((r, i) => {
              if (i === step.hart) return referenceAccess(r, a, result.outcome);
              // Another hart's writes, in order, as stores to this hart's memory.
              return outcomeWrites(a, result.outcome).reduce((s, [addr, value]) => referenceStep(s, { kind: 'ptStore', addr, value }), r);
            });
            if (outcomeWrites(a, result.outcome).length > 0) seen.otherHartStores++;
          } else {
            const a = step.action;
            refs = refs.map((r, i) => (i === step.hart || a.kind === 'ptStore' ? referenceStep(r, a) : r));
            if (a.kind === 'ptStore') seen.otherHartStores++;
          }
          harts = state;
          refs.forEach((r, i) => expect(hartView(harts, i)).toEqual(r));
          // One memory: every hart holds the same object.
          for (const h of harts.harts) expect(h.mem).toBe(harts.harts[0].mem);
        }
      }),
      fcParams(4),
    );
    expect(seen.sbiSuccess).toBeGreaterThan(RUNS / 2);
    expect(seen.sbiInvalid).toBeGreaterThan(RUNS / 10);
    expect(seen.staleSeveral).toBeGreaterThan(RUNS / 10);
  });
});
