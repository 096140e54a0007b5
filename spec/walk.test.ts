/**
 * walkSv39's results beyond the outcome the litmus tests compare: whether the
 * translation is global (a G bit anywhere on its path, or a cached global entry
 * it started from), which of its reads came from memory, the Svadu update it
 * asks for, and the fault of a physical address outside RAM. The concrete TLBs
 * and the two-stage walk build on these fields, and the outcome alone does not
 * show them.
 */
import { describe, expect, test } from 'vitest';
import { type Gpa, gpa, gva } from './address.ts';
import { encodePte, ptePpnField } from './pte.ts';
import { type AccessContext, type PteRead, type WalkResult, walkSv39 } from './walk.ts';

// va 0x4000_1000: VPN[2] = 1, VPN[1] = 0, VPN[0] = 1; tables at 0x80010 (root), 0x80011, 0x80012.
const va = gva(0x4000_1000n);
const ROOT = 0x80010n;
const ROOT_SLOT = gpa(0x8001_0008n);
const L1_SLOT = gpa(0x8001_1000n);
const L0_SLOT = gpa(0x8001_2008n);
const load: AccessContext = { kind: 'load', priv: 'S', sum: false, mxr: false };
const store: AccessContext = { ...load, kind: 'store' };
const pointer = (ppn: bigint, g = false) => encodePte({ ppn, g });
const leaf = (ppn: bigint, f: { g?: boolean; a?: boolean; d?: boolean } = {}) =>
  encodePte({ ppn, r: true, w: true, a: f.a ?? true, d: f.d ?? true, g: f.g ?? false });
const inRam = (pa: Gpa) => pa >= 0x8000_0000n && pa < 0x9000_0000n;

/** A memory of three words; `cached` adds values a read may also return (as a hart's cached entries). */
function source(words: ReadonlyMap<bigint, bigint>, cached: ReadonlyMap<bigint, bigint> = new Map()) {
  return (_level: number, a: Gpa): PteRead[] => {
    const out: PteRead[] = [{ kind: 'pte', pte: words.get(a) ?? 0n, fromMemory: true }];
    const c = cached.get(a);
    if (c !== undefined) out.push({ kind: 'pte', pte: c, fromMemory: false });
    return out;
  };
}

const tables = (root: bigint, l1: bigint, l0: bigint) => new Map([[ROOT_SLOT as bigint, root], [L1_SLOT as bigint, l1], [L0_SLOT as bigint, l0]]);

function only(rs: readonly WalkResult[]): WalkResult {
  expect(rs).toHaveLength(1);
  return rs[0] as WalkResult;
}

describe('global', () => {
  test('no G bit on the path: not global', () => {
    const r = only(walkSv39(va, ROOT, load, source(tables(pointer(0x80011n), pointer(0x80012n), leaf(0x80400n))), { svade: true }, inRam));
    expect(r).toMatchObject({ kind: 'ok', global: false });
  });

  test('G on the leaf alone: global', () => {
    const r = only(walkSv39(va, ROOT, load, source(tables(pointer(0x80011n), pointer(0x80012n), leaf(0x80400n, { g: true }))), { svade: true }, inRam));
    expect(r).toMatchObject({ kind: 'ok', global: true });
  });

  test('G on the root pointer makes the whole subtree global (priv spec, Sv32 PTE G bit)', () => {
    const r = only(walkSv39(va, ROOT, load, source(tables(pointer(0x80011n, true), pointer(0x80012n), leaf(0x80400n))), { svade: true }, inRam));
    expect(r).toMatchObject({ kind: 'ok', global: true });
  });

  test('a walk started from a cached global entry is global, and that read is not from memory', () => {
    const start = { level: 0 as const, pteAddr: L0_SLOT, pte: leaf(0x80500n), fromMemory: false };
    const rs = walkSv39(va, ROOT, load, source(tables(0n, 0n, 0n)), { svade: true }, inRam, [start]);
    // The walk from the root faults (an empty root); the global start gives the cached leaf.
    expect(rs).toHaveLength(2);
    expect(rs[0]).toMatchObject({ kind: 'fault', error: 'invalid-pte' });
    expect(rs[1]).toMatchObject({ kind: 'ok', pa: 0x8050_0000n, global: true, path: [{ level: 0, fromMemory: false }] });
  });
});

test('each step of the path says whether its value came from memory or from a cached entry', () => {
  const words = tables(pointer(0x80011n), pointer(0x80012n), leaf(0x80400n));
  const rs = walkSv39(va, ROOT, load, source(words, new Map([[L1_SLOT as bigint, pointer(0x80013n)]])), { svade: true }, inRam);
  // From memory at every level; and through the cached level-1 pointer to a table that is empty.
  expect(rs.map((r) => [r.kind, r.path.map((p) => p.fromMemory)])).toEqual([
    ['ok', [true, true, true]],
    ['fault', [true, false, true]],
  ]);
});

describe('step 7 under Svadu', () => {
  const walk = (l: bigint, ctx: AccessContext) =>
    only(walkSv39(va, ROOT, ctx, source(tables(pointer(0x80011n), pointer(0x80012n), l)), { svade: false }, inRam));

  test('a load of a leaf with A set needs no update, even with D clear', () => {
    expect(walk(leaf(0x80400n, { d: false }), load)).toMatchObject({ kind: 'ok', adUpdate: null });
  });

  test('a load of a leaf with A clear sets A only; a store sets A and D', () => {
    const l = leaf(0x80400n, { a: false, d: false });
    expect(walk(l, load)).toMatchObject({ kind: 'ok', adUpdate: { addr: L0_SLOT, pte: l | 0x40n } });
    expect(walk(l, store)).toMatchObject({ kind: 'ok', adUpdate: { addr: L0_SLOT, pte: l | 0xc0n } });
  });
});

describe('step 8: a physical address outside RAM', () => {
  const outside = 0x1_0000n; // a page far below RAM
  test('is an access fault that asks for no update when none was needed', () => {
    const r = only(walkSv39(va, ROOT, load, source(tables(pointer(0x80011n), pointer(0x80012n), leaf(outside))), { svade: true }, inRam));
    expect(r).toEqual({ kind: 'fault', error: 'pa-access-fault', path: expect.any(Array) });
  });

  test('under Svadu keeps the A/D update the completed translation made', () => {
    const l = leaf(outside, { a: false });
    const r = only(walkSv39(va, ROOT, load, source(tables(pointer(0x80011n), pointer(0x80012n), l)), { svade: false }, inRam));
    expect(r).toMatchObject({ kind: 'fault', error: 'pa-access-fault', adUpdate: { addr: L0_SLOT, pte: l | 0x40n } });
  });
});

describe('PTE fields', () => {
  test('ppn[2] is the 26 bits above bit 18 of the PPN, not 9', () => {
    expect(ptePpnField(encodePte({ ppn: 1n << 30n }), 2)).toBe(1n << 12n);
    expect(ptePpnField(encodePte({ ppn: 0x3_fe00n }), 1)).toBe(0x1ffn);
  });

  test('encodePte sets V unless told not to', () => {
    expect(encodePte({ ppn: 1n }) & 1n).toBe(1n);
    expect(encodePte({ ppn: 1n, v: false }) & 1n).toBe(0n);
  });
});
