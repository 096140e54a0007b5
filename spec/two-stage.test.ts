/**
 * Two-stage translation (H extension, "Two-Stage Address Translation"), hand-computed cases.
 *
 * Host layout (RAM is host-physical 0x8000_0000..0x9000_0000):
 *   G-stage root (16 KiB)   0x8000_0000  root[2] -> G-L1
 *   G-L1                    0x8000_4000  [0] -> G-L0a, [1] -> G-L0b, [3..127] identity 2 MiB leaves
 *   G-L0a                   0x8000_5000  identity 4 KiB leaves for GPA 0x8000_0000..0x801f_ffff
 *   G-L0b                   0x8000_6000  identity 4 KiB leaves for GPA 0x8020_0000..0x803f_ffff
 * Guest (VS-stage) tables, at guest-physical addresses (identity-mapped by the G-stage):
 *   VS root 0x8010_0000 [1] -> VS-L1 0x8010_1000 [0] -> VS-L0 0x8010_2000 [1] -> leaf ppn 0x80201
 * so GVA 0x4000_1010 (vpn 1, 0, 1) is GPA 0x8020_1010.
 */
import { describe, expect, test } from 'vitest';
import { type Gva, type Hpa, gpa, gva } from './address.ts';
import { PTE_A, PTE_D, type PteFields, encodePte } from './pte.ts';
import { type TwoStageInput, type TwoStageResult, gpaVpnIndex, translateTwoStage } from './two-stage.ts';

const RAM_BASE = 0x8000_0000n;
const RAM_END = 0x9000_0000n;

const G_ROOT = 0x8000_0000n;
const G_L1 = 0x8000_4000n;
const G_L0A = 0x8000_5000n;
const G_L0B = 0x8000_6000n;
const VS_ROOT = 0x8010_0000n;
const VS_L1 = 0x8010_1000n;
const VS_L0 = 0x8010_2000n;

/** The G-stage leaves for the pages holding the VS tables and the data page. */
const G_LEAF_VS_ROOT = G_L0A + 0x100n * 8n; // 0x8000_5800
const G_LEAF_VS_L1 = G_L0A + 0x101n * 8n; // 0x8000_5808
const G_LEAF_VS_L0 = G_L0A + 0x102n * 8n; // 0x8000_5810
const G_LEAF_DATA = G_L0B + 1n * 8n; // 0x8000_6008
/** The VS-stage PTEs on the walk of GVA 0x4000_1010. */
const VS_ROOT_PTE = VS_ROOT + 1n * 8n; // 0x8010_0008
const VS_L1_PTE = VS_L1 + 0n * 8n; // 0x8010_1000
const VS_LEAF = VS_L0 + 1n * 8n; // 0x8010_2008

const GVA = gva(0x4000_1010n);
const DATA_HPA = 0x8020_1010n;

const ptr = (ppn: bigint): bigint => encodePte({ ppn });
const gLeaf = (ppn: bigint, f: Omit<PteFields, 'ppn'> = { r: true, w: true, x: true, a: true, d: true }): bigint =>
  encodePte({ ppn, u: true, ...f });
const vsLeaf = (f: Omit<PteFields, 'ppn'> = { r: true, w: true, x: true, a: true, d: true }): bigint => encodePte({ ppn: 0x80201n, ...f });

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
  m.set(VS_ROOT_PTE, ptr(VS_L1 >> 12n));
  m.set(VS_L1_PTE, ptr(VS_L0 >> 12n));
  m.set(VS_LEAF, vsLeaf());
  return m;
}

function input(m: Map<bigint, bigint>, over: Partial<TwoStageInput> = {}): TwoStageInput {
  return {
    gva: GVA,
    access: 'load',
    priv: 'VS',
    vsatp: { mode: 'sv39', asid: 1, rootPpn: VS_ROOT >> 12n },
    hgatp: { mode: 'sv39x4', vmid: 1, rootPpn: G_ROOT >> 12n },
    vsstatus: { sum: false, mxr: false },
    mstatusMxr: false,
    read: (a: Hpa) => m.get(a) ?? 0n,
    inRam: (a: Hpa) => a >= RAM_BASE && a < RAM_END,
    svade: true,
    ...over,
  };
}

const ok = (hpa: bigint, updates: { addr: bigint; value: bigint }[] = []): TwoStageResult => ({ kind: 'ok', hpa: hpa as Hpa, updates: updates.map((u) => ({ addr: u.addr as Hpa, value: u.value })) });
const fault = (cause: number, tval: bigint, tval2: bigint, updates: { addr: bigint; value: bigint }[] = []): TwoStageResult => ({
  kind: 'fault', cause, tval: tval as Gva, tval2, updates: updates.map((u) => ({ addr: u.addr as Hpa, value: u.value })),
});

describe('G-stage only where it should be', () => {
  test('identity G-stage: GVA 0x4000_1010 reaches HPA 0x8020_1010', () => {
    expect(translateTwoStage(input(machine()))).toEqual(ok(DATA_HPA));
  });

  test('a non-identity G-stage leaf moves the data page (GPA page 0x80201 -> HPA page 0x80301)', () => {
    const m = machine();
    m.set(G_LEAF_DATA, gLeaf(0x80301n));
    expect(translateTwoStage(input(m))).toEqual(ok(0x8030_1010n));
  });

  test('vsatp Bare: GVA = GPA, G-stage only', () => {
    const m = machine();
    m.set(G_LEAF_DATA, gLeaf(0x80301n));
    expect(translateTwoStage(input(m, { vsatp: { mode: 'bare' }, gva: gva(0x8020_1010n) }))).toEqual(ok(0x8030_1010n));
  });

  test('hgatp Bare: GPA = HPA; the VS tables are read at their guest-physical addresses', () => {
    const m = machine();
    m.set(G_LEAF_DATA, gLeaf(0x80301n)); // ignored: no G-stage
    expect(translateTwoStage(input(m, { hgatp: { mode: 'bare' } }))).toEqual(ok(DATA_HPA));
    // Both Bare, an address outside RAM: an access fault (PMA), no guest-page fault.
    expect(translateTwoStage(input(m, { hgatp: { mode: 'bare' }, vsatp: { mode: 'bare' }, gva: gva(0x1000n), access: 'store' })))
      .toEqual(fault(7, 0x1000n, 0n));
  });
});

describe('G-stage permission checks: every access as U-mode, guest-page faults', () => {
  test('G-stage leaf with U=0 on the data page: load guest-page fault, htval = GPA >> 2', () => {
    const m = machine();
    m.set(G_LEAF_DATA, encodePte({ ppn: 0x80201n, r: true, w: true, x: true, a: true, d: true }));
    // 0x8020_1010 >> 2 = 0x2008_0404
    expect(translateTwoStage(input(m))).toEqual(fault(21, 0x4000_1010n, 0x2008_0404n));
  });

  test('G-stage leaf with U=0 on a VS page-table page: guest-page fault at that PTE (store: 23)', () => {
    const m = machine();
    m.set(G_LEAF_VS_ROOT, encodePte({ ppn: 0x80100n, r: true, w: true, x: true, a: true, d: true }));
    // The first VS PTE read is at GPA 0x8010_0008; 0x8010_0008 >> 2 = 0x2004_0002.
    expect(translateTwoStage(input(m, { access: 'store' }))).toEqual(fault(23, 0x4000_1010n, 0x2004_0002n));
  });

  test('G-stage page without R under a VS PTE, during a fetch: cause 20, htval = PTE GPA >> 2', () => {
    const m = machine();
    m.set(G_LEAF_VS_L1, gLeaf(0x80101n, { x: true, a: true, d: true })); // execute-only
    // The VS-L1 PTE read (GPA 0x8010_1000) is an implicit load: it needs R even for a fetch.
    // 0x8010_1000 >> 2 = 0x2004_0400.
    expect(translateTwoStage(input(m, { access: 'fetch' }))).toEqual(fault(20, 0x4000_1010n, 0x2004_0400n));
    // HS-level MXR is for explicit loads: it does not make the page readable for the implicit PTE read.
    expect(translateTwoStage(input(m, { access: 'load', mstatusMxr: true }))).toEqual(fault(21, 0x4000_1010n, 0x2004_0400n));
  });

  test('htval configured to zero: the same fault, htval 0', () => {
    const m = machine();
    m.set(G_LEAF_VS_L1, gLeaf(0x80101n, { x: true, a: true, d: true }));
    expect(translateTwoStage(input(m, { access: 'fetch', htval: 'zero' }))).toEqual(fault(20, 0x4000_1010n, 0n));
  });

  test('a VS-stage fault is a page fault, with htval 0', () => {
    const m = machine();
    m.set(VS_LEAF, vsLeaf({ r: true, a: true, d: true, u: true })); // a U page
    expect(translateTwoStage(input(m, { access: 'fetch', priv: 'VS' }))).toEqual(fault(12, 0x4000_1010n, 0n));
    expect(translateTwoStage(input(m, { access: 'load', priv: 'VS' }))).toEqual(fault(13, 0x4000_1010n, 0n));
    // vsstatus.SUM lets VS-mode load from it; VU-mode needs no SUM.
    expect(translateTwoStage(input(m, { vsstatus: { sum: true, mxr: false } }))).toEqual(ok(DATA_HPA));
    expect(translateTwoStage(input(m, { priv: 'VU' }))).toEqual(ok(DATA_HPA));
  });
});

describe('A/D: implicit stores to VS PTEs, and the G-stage’s own bits', () => {
  test('VS leaf D=0 under hardware A/D, its page read-only in the G-stage: store guest-page fault 23', () => {
    const m = machine();
    m.set(VS_LEAF, vsLeaf({ r: true, w: true, a: true }));
    m.set(G_LEAF_VS_L0, gLeaf(0x80102n, { r: true, a: true, d: true }));
    // The D update is an implicit store to GPA 0x8010_2008: 0x8010_2008 >> 2 = 0x2004_0802.
    expect(translateTwoStage(input(m, { access: 'store', svade: false }))).toEqual(fault(23, 0x4000_1010n, 0x2004_0802n));
  });

  test('VS leaf A=0 under hardware A/D, page read-only in the G-stage: the original type decides (load 21, fetch 20)', () => {
    const m = machine();
    m.set(VS_LEAF, vsLeaf({ r: true, x: true }));
    m.set(G_LEAF_VS_L0, gLeaf(0x80102n, { r: true, a: true, d: true }));
    expect(translateTwoStage(input(m, { access: 'load', svade: false }))).toEqual(fault(21, 0x4000_1010n, 0x2004_0802n));
    expect(translateTwoStage(input(m, { access: 'fetch', svade: false }))).toEqual(fault(20, 0x4000_1010n, 0x2004_0802n));
  });

  test('VS leaf D=0 under Svade: a VS-stage page fault, not a guest-page fault', () => {
    const m = machine();
    m.set(VS_LEAF, vsLeaf({ r: true, w: true, a: true }));
    m.set(G_LEAF_VS_L0, gLeaf(0x80102n, { r: true, a: true, d: true }));
    expect(translateTwoStage(input(m, { access: 'store', svade: true }))).toEqual(fault(15, 0x4000_1010n, 0n));
  });

  test('hardware A/D with G-stage W: G-stage D first (the implicit store), then the VS PTE, in order', () => {
    const m = machine();
    const leaf = vsLeaf({ r: true, w: true, a: true });
    const gl0 = gLeaf(0x80102n, { r: true, w: true, a: true }); // D=0
    m.set(VS_LEAF, leaf);
    m.set(G_LEAF_VS_L0, gl0);
    expect(translateTwoStage(input(m, { access: 'store', svade: false }))).toEqual(
      ok(DATA_HPA, [
        { addr: G_LEAF_VS_L0, value: gl0 | PTE_D },
        { addr: VS_LEAF, value: leaf | PTE_D },
      ]),
    );
  });

  test('G-stage leaf A=0: the implicit PTE read sets A only; the data page gets A and D for a store', () => {
    const m = machine();
    const glRoot = gLeaf(0x80100n, { r: true, w: true });
    const glData = gLeaf(0x80201n, { r: true, w: true });
    m.set(G_LEAF_VS_ROOT, glRoot);
    m.set(G_LEAF_DATA, glData);
    expect(translateTwoStage(input(m, { access: 'store', svade: false }))).toEqual(
      ok(DATA_HPA, [
        { addr: G_LEAF_VS_ROOT, value: glRoot | PTE_A },
        { addr: G_LEAF_DATA, value: glData | PTE_A | PTE_D },
      ]),
    );
    // Under Svade the data page's A=0 is a store guest-page fault (the VS root page's A=0 comes first).
    expect(translateTwoStage(input(m, { access: 'store', svade: true }))).toEqual(fault(23, 0x4000_1010n, 0x2004_0002n));
    m.set(G_LEAF_VS_ROOT, gLeaf(0x80100n));
    expect(translateTwoStage(input(m, { access: 'store', svade: true }))).toEqual(fault(23, 0x4000_1010n, 0x2008_0404n));
  });

  test('updates made before a later fault are reported with it', () => {
    const m = machine();
    const glRoot = gLeaf(0x80100n, { r: true, w: true });
    m.set(G_LEAF_VS_ROOT, glRoot);
    m.set(VS_LEAF, 0n);
    expect(translateTwoStage(input(m, { svade: false }))).toEqual(fault(13, 0x4000_1010n, 0n, [{ addr: G_LEAF_VS_ROOT, value: glRoot | PTE_A }]));
  });
});

describe('Sv39x4 addressing', () => {
  test('a GPA with bit 41 set is a guest-page fault (vsatp Bare, and from a VS leaf)', () => {
    const m = machine();
    // GPA 0x200_8020_1010: 0x200_8020_1010 >> 2 = 0x80_2008_0404.
    expect(translateTwoStage(input(m, { vsatp: { mode: 'bare' }, gva: gva(0x200_8020_1010n) }))).toEqual(fault(21, 0x200_8020_1010n, 0x80_2008_0404n));
    // A VS leaf whose PPN has bit 29 set (GPA bit 41): ppn 0x2000_0201 -> GPA 0x200_0020_1010.
    m.set(VS_LEAF, encodePte({ ppn: 0x2000_0201n, r: true, w: true, a: true, d: true }));
    expect(translateTwoStage(input(m))).toEqual(fault(21, 0x4000_1010n, 0x200_0020_1010n >> 2n));
  });

  test('16 KiB root: vpn[2] = 0x400 uses the third root page, vpn[2] = 0x7ff the last entry of the fourth', () => {
    expect(gpaVpnIndex(gpa(0x100_0020_1010n), 2)).toBe(0x400n);
    const m = machine();
    // 0x8000_0000 + 0x400 * 8 = 0x8000_2000: the first entry of the third 4 KiB page of the root.
    m.set(G_ROOT + 0x2000n, gLeaf(0x80000n)); // a 1 GiB leaf at HPA 0x8000_0000
    m.set(G_ROOT + 0x3ff8n, gLeaf(0x80000n));
    const bare = { vsatp: { mode: 'bare' } as const };
    // GPA bit 40 set, low 30 bits 0x20_1010: HPA 0x8000_0000 | 0x20_1010.
    expect(translateTwoStage(input(m, { ...bare, gva: gva(0x100_0020_1010n) }))).toEqual(ok(DATA_HPA));
    // GPA (0x7ff << 30) | 0x20_1010 = 0x1ff_c020_1010.
    expect(translateTwoStage(input(m, { ...bare, gva: gva(0x1ff_c020_1010n) }))).toEqual(ok(DATA_HPA));
    // Bits 63..41 must be zero, not a sign extension of bit 40: with bits 63..40 all ones the index
    // would also be 0x400, yet it is a guest-page fault.
    expect(translateTwoStage(input(m, { ...bare, gva: gva(0xffff_ff00_0020_1010n) })))
      .toEqual(fault(21, 0xffff_ff00_0020_1010n, 0xffff_ff00_0020_1010n >> 2n));
    // A 9-bit index would have used root[0], which is empty; root[0x400] missing is a fault.
    m.delete(G_ROOT + 0x2000n);
    expect(translateTwoStage(input(m, { ...bare, gva: gva(0x100_0020_1010n) }))).toEqual(fault(21, 0x100_0020_1010n, 0x100_0020_1010n >> 2n));
  });

  test('misaligned G-stage superpage: a 2 MiB leaf with ppn[0] != 0 is a guest-page fault', () => {
    const m = machine();
    m.set(G_L1 + 2n * 8n, gLeaf(0x80401n)); // GPA 0x8040_0000..: ppn[0] = 1
    // 0x8040_0010 >> 2 = 0x2010_0004.
    expect(translateTwoStage(input(m, { vsatp: { mode: 'bare' }, gva: gva(0x8040_0010n) }))).toEqual(fault(21, 0x8040_0010n, 0x2010_0004n));
    m.set(G_L1 + 2n * 8n, gLeaf(0x80400n));
    expect(translateTwoStage(input(m, { vsatp: { mode: 'bare' }, gva: gva(0x8040_0010n) }))).toEqual(ok(0x8040_0010n));
  });

  test('the G bit in a G-stage PTE is ignored', () => {
    const m = machine();
    m.set(G_LEAF_DATA, gLeaf(0x80201n, { r: true, w: true, x: true, a: true, d: true, g: true }));
    expect(translateTwoStage(input(m))).toEqual(ok(DATA_HPA));
  });
});

describe('MXR', () => {
  // The data page is execute-only in both stages.
  const xOnly = (): Map<bigint, bigint> => {
    const m = machine();
    m.set(VS_LEAF, vsLeaf({ x: true, a: true, d: true }));
    m.set(G_LEAF_DATA, gLeaf(0x80201n, { x: true, a: true, d: true }));
    return m;
  };

  test('no MXR: a VS-stage load page fault', () => {
    expect(translateTwoStage(input(xOnly()))).toEqual(fault(13, 0x4000_1010n, 0n));
  });

  test('vsstatus.MXR passes the VS-stage only: the G-stage still needs R (load guest-page fault)', () => {
    expect(translateTwoStage(input(xOnly(), { vsstatus: { sum: false, mxr: true } }))).toEqual(fault(21, 0x4000_1010n, 0x2008_0404n));
  });

  test('HS-level MXR makes X readable in both stages', () => {
    expect(translateTwoStage(input(xOnly(), { mstatusMxr: true }))).toEqual(ok(DATA_HPA));
  });
});

describe('PMA: access faults of the original type', () => {
  test('a G-stage leaf pointing outside RAM: load access fault 5, htval 0', () => {
    const m = machine();
    m.set(G_LEAF_DATA, gLeaf(0x10n));
    expect(translateTwoStage(input(m))).toEqual(fault(5, 0x4000_1010n, 0n));
  });

  test('a G-stage root outside RAM: the first implicit PTE read gives an instruction access fault for a fetch', () => {
    expect(translateTwoStage(input(machine(), { access: 'fetch', hgatp: { mode: 'sv39x4', vmid: 1, rootPpn: 0x10n } }))).toEqual(fault(1, 0x4000_1010n, 0n));
  });

  test('a VS-stage PTE whose G-stage translation lands outside RAM: store access fault 7', () => {
    const m = machine();
    m.set(G_LEAF_VS_L1, gLeaf(0x10n));
    expect(translateTwoStage(input(m, { access: 'store' }))).toEqual(fault(7, 0x4000_1010n, 0n));
  });
});
