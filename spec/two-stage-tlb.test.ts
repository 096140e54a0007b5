/**
 * The two-stage hart's TLB, hand-computed cases: what each access costs and which entries
 * serve it, and what each fence removes (decision record 0008). The machine is
 * spec/two-stage.test.ts's: an identity G-stage (root 0x8000_0000, L1 0x8000_4000, L0s for
 * GPA 0x8000_0000..0x803f_ffff, 2 MiB identity leaves above) and a VS-stage walk of GVA
 * 0x4000_1010 through VS tables at GPA 0x8010_0000.. to GPA 0x8020_1010.
 */
import { describe, expect, test } from 'vitest';
import { type Gpa, type Hpa, gpa, gva } from './address.ts';
import { PTE_D, type PteFields, encodePte } from './pte.ts';
import { type TwoStageInput, translateTwoStage } from './two-stage.ts';
import { type HartTranslation, type TwoStageTlb, emptyTwoStageTlb, hartGFence, hartTranslate, hartVsFence } from './two-stage-tlb.ts';

const G_ROOT = 0x8000_0000n;
const G_L1 = 0x8000_4000n;
const G_L0A = 0x8000_5000n;
const G_L0B = 0x8000_6000n;
const VS_ROOT = 0x8010_0000n;
const VS_L1 = 0x8010_1000n;
const VS_L0 = 0x8010_2000n;
const G_LEAF_DATA = G_L0B + 1n * 8n;
const VS_LEAF = VS_L0 + 1n * 8n;
const GVA = gva(0x4000_1010n);
const DATA = 0x8020_1010n;

const ptr = (ppn: bigint, f: Omit<PteFields, 'ppn'> = {}): bigint => encodePte({ ppn, ...f });
const rwxad = { r: true, w: true, x: true, a: true, d: true };
const gLeaf = (ppn: bigint): bigint => encodePte({ ppn, u: true, ...rwxad });

function machine(): Map<bigint, bigint> {
  const m = new Map<bigint, bigint>();
  m.set(G_ROOT + 2n * 8n, ptr(G_L1 >> 12n));
  m.set(G_L1 + 0n * 8n, ptr(G_L0A >> 12n));
  m.set(G_L1 + 1n * 8n, ptr(G_L0B >> 12n));
  for (let i = 3n; i < 128n; i++) m.set(G_L1 + i * 8n, gLeaf(0x80000n + i * 0x200n));
  for (let j = 0n; j < 512n; j++) {
    m.set(G_L0A + j * 8n, gLeaf(0x80000n + j));
    m.set(G_L0B + j * 8n, gLeaf(0x80200n + j));
  }
  m.set(VS_ROOT + 1n * 8n, ptr(VS_L1 >> 12n));
  m.set(VS_L1 + 0n * 8n, ptr(VS_L0 >> 12n));
  m.set(VS_LEAF, encodePte({ ppn: 0x80201n, ...rwxad }));
  return m;
}

const input = (m: Map<bigint, bigint>, over: Partial<TwoStageInput> = {}): TwoStageInput => ({
  gva: GVA,
  access: 'load',
  priv: 'VS',
  vsatp: { mode: 'sv39', asid: 1, rootPpn: VS_ROOT >> 12n },
  hgatp: { mode: 'sv39x4', vmid: 1, rootPpn: G_ROOT >> 12n },
  vsstatus: { sum: false, mxr: false },
  mstatusMxr: false,
  read: (a: Hpa) => m.get(a) ?? 0n,
  inRam: (a: Hpa) => a >= 0x8000_0000n && a < 0x9000_0000n,
  svade: true,
  ...over,
});

/** What a translation cost and produced, in one comparable record. */
const summary = (t: HartTranslation) => ({
  hpa: t.result.kind === 'ok' ? t.result.hpa : null,
  reads: t.memoryReads,
  combined: t.served.combined,
  lookups: t.gLookups.map((l) => `${l.explicit ? 'explicit' : 'implicit'} ${l.ctx.kind} 0x${l.gpa.toString(16)}`),
});

const guestAt = (m: Map<bigint, bigint>) => (a: Gpa) => m.get(a) ?? 0n; // identity G-stage: GPA = HPA
const hostAt = (m: Map<bigint, bigint>) => (a: Hpa) => m.get(a) ?? 0n;

/** A warm TLB: GVA translated once under VMID 1, ASID 1. */
function warm(m: Map<bigint, bigint>): TwoStageTlb {
  return hartTranslate(emptyTwoStageTlb, input(m)).tlb;
}

describe('the 2-D walk and what it fills', () => {
  test('cold, nothing shared: 3 VS-stage reads, each G-stage translated (3 x 3), and the final GPA (3): 15 references', () => {
    // Each of the four guest-physical pages (VS root, L1, L0, data) in its own 1 GiB region, so
    // no G-stage walk can reuse another's entries: G root[k] -> L1_k -> L0_k -> frame_k.
    const m = new Map<bigint, bigint>();
    const frame = (k: bigint): bigint => 0x8800_0000n + k * 0x1000n;
    for (const k of [1n, 2n, 3n, 4n]) {
      const l1 = 0x8100_0000n + k * 0x2000n;
      const l0 = l1 + 0x1000n;
      m.set(G_ROOT + k * 8n, ptr(l1 >> 12n));
      m.set(l1, ptr(l0 >> 12n));
      m.set(l0, gLeaf(frame(k) >> 12n));
    }
    // GVA 0 walks root[0] -> L1[0] -> L0[0]; the VS tables sit at GPA 1, 2 and 3 GiB, the data at 4 GiB.
    m.set(frame(1n), ptr(0x8_0000n));
    m.set(frame(2n), ptr(0xc_0000n));
    m.set(frame(3n), encodePte({ ppn: 0x10_0000n, ...rwxad }));
    const cold = input(m, { gva: gva(0x10n), vsatp: { mode: 'sv39', asid: 1, rootPpn: 0x4_0000n } });
    const t = hartTranslate(emptyTwoStageTlb, cold);
    expect(t.result).toEqual(translateTwoStage(cold));
    expect(summary(t)).toEqual({
      hpa: frame(4n) + 0x10n,
      reads: { vs: 3, g: 12 },
      combined: false,
      lookups: ['implicit load 0x40000000', 'implicit load 0x80000000', 'implicit load 0xc0000000', 'explicit load 0x100000010'],
    });
  });

  test('cold: 3 VS-stage reads and 7 G-stage reads, since later G-stage walks reuse the upper entries earlier ones filled', () => {
    const m = machine();
    const t = hartTranslate(emptyTwoStageTlb, input(m));
    expect(t.result).toEqual(translateTwoStage(input(m)));
    expect(t.gpa).toBe(DATA);
    // 0x8010_0008: 3 reads; 0x8010_1000 and 0x8010_2008 share its level-2 and level-1 entries: 1 each;
    // 0x8020_1010 shares the level-2 entry: 2.
    expect(summary(t)).toEqual({
      hpa: DATA,
      reads: { vs: 3, g: 7 },
      combined: false,
      lookups: ['implicit load 0x80100008', 'implicit load 0x80101000', 'implicit load 0x80102008', 'explicit load 0x80201010'],
    });
    expect(t.vsPath.map((s) => s.fromMemory)).toEqual([true, true, true]);
  });

  test('warm: the combined entry serves it, no reference, one G-stage lookup reported (its leaf)', () => {
    const m = machine();
    const t = hartTranslate(warm(m), input(m, { access: 'store' }));
    expect(summary(t)).toEqual({ hpa: DATA, reads: { vs: 0, g: 0 }, combined: true, lookups: ['explicit store 0x80201010'] });
    expect(t.gpa).toBe(DATA);
  });

  test('a combined hit checks both leaves’ permissions as the walk would', () => {
    const m = machine();
    const tlb = warm(m);
    expect(hartTranslate(tlb, input(m, { priv: 'VU' })).result).toEqual(translateTwoStage(input(m, { priv: 'VU' })));
    expect(hartTranslate(tlb, input(m, { priv: 'VU' })).result).toMatchObject({ kind: 'fault', cause: 13 });
  });

  test('another VMID, or another ASID, starts cold; a global VS leaf is shared by ASIDs, not by VMIDs', () => {
    const m = machine();
    expect(hartTranslate(warm(m), input(m, { hgatp: { mode: 'sv39x4', vmid: 2, rootPpn: G_ROOT >> 12n } })).memoryReads).toEqual({ vs: 3, g: 7 });
    expect(hartTranslate(warm(m), input(m, { vsatp: { mode: 'sv39', asid: 2, rootPpn: VS_ROOT >> 12n } })).memoryReads).toEqual({ vs: 3, g: 0 });
    m.set(VS_LEAF, encodePte({ ppn: 0x80201n, g: true, ...rwxad }));
    const asid2 = hartTranslate(warm(m), input(m, { vsatp: { mode: 'sv39', asid: 2, rootPpn: VS_ROOT >> 12n } }));
    expect(asid2.served.combined).toBe(true);
    expect(hartTranslate(warm(m), input(m, { hgatp: { mode: 'sv39x4', vmid: 2, rootPpn: G_ROOT >> 12n } })).served.combined).toBe(false);
  });

  test('a non-canonical GVA with the same low bits never hits the combined entry', () => {
    const m = machine();
    const t = hartTranslate(warm(m), input(m, { gva: gva(0x4000_1010n | (1n << 40n)) }));
    expect(t.served.combined).toBe(false);
    expect(t.result).toMatchObject({ kind: 'fault', cause: 13 });
  });

  test('Svadu: a cached leaf needing an A/D update goes back to memory, and the TLB then holds it as updated', () => {
    const m = machine();
    const noD = encodePte({ ppn: 0x80201n, r: true, w: true, a: true });
    m.set(VS_LEAF, noD);
    const svadu = (over: Partial<TwoStageInput> = {}) => input(m, { svade: false, ...over });
    const tlb = hartTranslate(emptyTwoStageTlb, svadu()).tlb;
    // A store: the combined entry's leaf lacks D, so the hart walks again and updates memory's PTE (identity G-stage).
    const store = hartTranslate(tlb, svadu({ access: 'store' }));
    expect(store.result).toEqual(translateTwoStage(svadu({ access: 'store' })));
    expect(store.result).toEqual({ kind: 'ok', hpa: DATA, updates: [{ addr: VS_LEAF, value: noD | PTE_D }] });
    expect(store.served).toMatchObject({ combined: false, backToMemory: 2 }); // the combined entry, then the VS-stage entry
    // Memory changed to another leaf without D, unfenced: the update is made against memory's PTE, never the cached one.
    const moved = encodePte({ ppn: 0x80202n, r: true, w: true, a: true });
    m.set(VS_LEAF, moved);
    expect(hartTranslate(tlb, svadu()).result).toMatchObject({ kind: 'ok', hpa: DATA, updates: [] }); // a load may use the stale entry
    expect(hartTranslate(tlb, svadu({ access: 'store' })).result).toEqual({ kind: 'ok', hpa: 0x8020_2010n, updates: [{ addr: VS_LEAF, value: moved | PTE_D }] });
    // After the update the TLB holds the leaf with D set: the next store hits the combined entry and writes nothing.
    m.set(VS_LEAF, noD | PTE_D);
    const again = hartTranslate(store.tlb, svadu({ access: 'store' }));
    expect(again.served.combined).toBe(true);
    expect(again.result).toEqual({ kind: 'ok', hpa: DATA, updates: [] });
  });

  test('Svadu: a cached G-stage leaf needing D goes back to memory too', () => {
    const m = machine();
    const gNoD = encodePte({ ppn: 0x80201n, u: true, r: true, w: true, x: true, a: true });
    m.set(G_LEAF_DATA, gNoD);
    const svadu = (over: Partial<TwoStageInput> = {}) => input(m, { svade: false, ...over });
    const tlb = hartTranslate(emptyTwoStageTlb, svadu()).tlb;
    const store = hartTranslate(tlb, svadu({ access: 'store' }));
    expect(store.result).toEqual(translateTwoStage(svadu({ access: 'store' })));
    expect(store.result).toEqual({ kind: 'ok', hpa: DATA, updates: [{ addr: G_LEAF_DATA, value: gNoD | PTE_D }] });
    m.set(G_LEAF_DATA, gNoD | PTE_D);
    expect(hartTranslate(store.tlb, svadu({ access: 'store' }))).toMatchObject({ served: { combined: true }, result: { updates: [] } });
  });
});

describe('HFENCE.GVMA: G-stage and combined entries, never the GVA->GPA cache', () => {
  test('rs1 = the data GPA: its combined entry and G-stage leaf go; the VS-stage entries and the G-stage pointers stay', () => {
    const m = machine();
    const t = hartTranslate(hartGFence(warm(m), gpa(DATA), 1, hostAt(m)), input(m));
    expect(summary(t)).toEqual({ hpa: DATA, reads: { vs: 0, g: 1 }, combined: false, lookups: ['explicit load 0x80201010'] });
  });

  test('the G-stage leaf retargeted without a fence: the combined entry keeps the old frame until HFENCE.GVMA of that GPA', () => {
    const m = machine();
    const tlb = warm(m);
    m.set(G_LEAF_DATA, gLeaf(0x80301n));
    expect(hartTranslate(tlb, input(m)).result).toMatchObject({ kind: 'ok', hpa: DATA });
    // Another page, another VMID: no effect.
    expect(hartTranslate(hartGFence(tlb, gpa(0x8020_2000n), 1, hostAt(m)), input(m)).result).toMatchObject({ hpa: DATA });
    expect(hartTranslate(hartGFence(tlb, gpa(DATA), 2, hostAt(m)), input(m)).result).toMatchObject({ hpa: DATA });
    expect(hartTranslate(hartGFence(tlb, null, 2, hostAt(m)), input(m)).result).toMatchObject({ hpa: DATA });
    // The GPA (any address in its page; rs2 the VMID or x0), or rs1=x0: the new frame.
    for (const fenced of [hartGFence(tlb, gpa(0x8020_1ff8n), 1, hostAt(m)), hartGFence(tlb, gpa(DATA), null, hostAt(m)), hartGFence(tlb, null, 1, hostAt(m))]) {
      expect(hartTranslate(fenced, input(m)).result).toMatchObject({ kind: 'ok', hpa: 0x8030_1010n });
    }
  });

  test('rs1=x0: every G-stage entry of the VMID goes, the VS-stage entries stay (only the final GPA is walked)', () => {
    const m = machine();
    const t = hartTranslate(hartGFence(warm(m), null, 1, hostAt(m)), input(m));
    expect(summary(t)).toEqual({ hpa: DATA, reads: { vs: 0, g: 3 }, combined: false, lookups: ['explicit load 0x80201010'] });
  });

  test('a combined entry built through a 2 MiB G-stage leaf goes for any GPA inside that leaf', () => {
    // The VS leaf maps the GVA page to GPA 0x8060_1000, inside G_L1[3]'s 2 MiB identity leaf.
    const m = machine();
    m.set(VS_LEAF, encodePte({ ppn: 0x80601n, ...rwxad }));
    const tlb = warm(m);
    m.set(G_L1 + 3n * 8n, gLeaf(0x80a00n)); // the superpage moved, no fence
    expect(hartTranslate(tlb, input(m)).result).toMatchObject({ hpa: 0x8060_1010n });
    // HFENCE.GVMA of another 4 KiB page in the same superpage removes it: the combined entry's GPA matches.
    const t = hartTranslate(hartGFence(tlb, gpa(0x8060_5000n), 1, hostAt(m)), input(m));
    expect(t.result).toMatchObject({ hpa: 0x80a0_1010n });
    expect(t.served.combined).toBe(false);
    // Outside the superpage: no effect.
    expect(hartTranslate(hartGFence(tlb, gpa(0x8080_1000n), 1, hostAt(m)), input(m)).result).toMatchObject({ hpa: 0x8060_1010n });
  });
});

describe('SFENCE.VMA in VS-mode and HFENCE.VVMA: VS-stage and combined entries of the current VMID', () => {
  test('rs1=x0: the VMID’s VS-stage and combined entries go, G-stage entries stay', () => {
    const m = machine();
    const t = hartTranslate(hartVsFence(warm(m), 1, null, null, guestAt(m)), input(m));
    expect(t.memoryReads).toEqual({ vs: 3, g: 0 });
  });

  test('another VMID’s fence, another ASID, or another page: no effect', () => {
    const m = machine();
    const tlb = warm(m);
    for (const fenced of [hartVsFence(tlb, 2, null, null, guestAt(m)), hartVsFence(tlb, 1, null, 2, guestAt(m)), hartVsFence(tlb, 1, gva(0x4000_2000n), 1, guestAt(m))]) {
      expect(hartTranslate(fenced, input(m)).served.combined).toBe(true);
    }
  });

  test('the VS leaf changed: the combined entry keeps the old GPA until a VS-stage fence of that GVA', () => {
    const m = machine();
    const tlb = warm(m);
    m.set(VS_LEAF, encodePte({ ppn: 0x80202n, ...rwxad }));
    expect(hartTranslate(tlb, input(m)).gpa).toBe(DATA);
    const t = hartTranslate(hartVsFence(tlb, 1, gva(0x4000_1000n), 1, guestAt(m)), input(m));
    expect(t.gpa).toBe(0x8020_2010n);
    // Only the leaf was re-read (its page's G-stage entries hit): the pointers above it survive an
    // rs1=va fence. The new GPA's page needed its own G-stage leaf.
    expect(t.memoryReads).toEqual({ vs: 1, g: 1 });
  });

  test('an invalid VS PTE made a valid leaf is dropped by rs1=va; made a valid pointer, it is not (decision 0006, choice 2)', () => {
    const m = machine();
    m.set(VS_LEAF, 0n);
    const tlb = hartTranslate(emptyTwoStageTlb, input(m)).tlb;
    m.set(VS_LEAF, encodePte({ ppn: 0x80201n, ...rwxad }));
    expect(hartTranslate(tlb, input(m)).result).toMatchObject({ kind: 'fault', cause: 13 });
    expect(hartTranslate(hartVsFence(tlb, 1, GVA, null, guestAt(m)), input(m)).result).toMatchObject({ kind: 'ok', hpa: DATA });
    m.set(VS_LEAF, ptr(VS_L0 >> 12n)); // a valid pointer at level 0: the entry stays, the fault too
    expect(hartTranslate(hartVsFence(tlb, 1, GVA, null, guestAt(m)), input(m)).result).toMatchObject({ kind: 'fault', cause: 13 });
  });

  test('A/D under Svade: a combined hit on a leaf without D faults a store, as the walk would', () => {
    const m = machine();
    m.set(VS_LEAF, encodePte({ ppn: 0x80201n, r: true, w: true, a: true }));
    const tlb = warm(m);
    const t = hartTranslate(tlb, input(m, { access: 'store' }));
    expect(t.served.combined).toBe(true);
    expect(t.result).toMatchObject({ kind: 'fault', cause: 15 });
  });
});
