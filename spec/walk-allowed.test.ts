/**
 * walkAllowed, the question justified-shadow asks of every loaded shadow leaf:
 * is this walk of `va` (its step-2 reads, root first) one the architecture allows
 * now? Yes for a walk read from memory or from values a hart may still cache; no
 * for anything that is not a walk (wrong order, levels or addresses, a pointer at
 * the end or a leaf in the middle) or reads a value neither memory nor the
 * saturated cache holds. The property only ever sees allowed walks from the
 * correct models, so the refusals are pinned down here.
 */
import { describe, expect, test } from 'vitest';
import { type Gpa, type Level, gpa, gva } from './address.ts';
import { defaultGuestConfig } from './config.ts';
import { writeWord, emptyMemory } from './memory.ts';
import { type ReferenceState, initialReference, referenceStep, walkAllowed } from './reference.ts';

const va = gva(0x4000_1000n);
const ROOT = 0x80010n;
const L1 = 0x80011n;
const L0 = 0x80012n;
const pointer = (ppn: bigint): bigint => (ppn << 10n) | 0x1n;
/** A 4 KiB leaf, V R W X A D. */
const leaf = (ppn: bigint): bigint => (ppn << 10n) | 0xcfn;

// va 0x4000_1000: VPN[2] = 1, VPN[1] = 0, VPN[0] = 1.
const step = (level: Level, pteAddr: bigint, pte: bigint) => ({ level, pteAddr: gpa(pteAddr) as Gpa, pte });
const walk = [step(2, 0x8001_0008n, pointer(L1)), step(1, 0x8001_1000n, pointer(L0)), step(0, 0x8001_2008n, leaf(0x80400n))];

function booted(): ReferenceState {
  let mem = emptyMemory;
  for (const s of walk) mem = writeWord(mem, s.pteAddr, s.pte);
  const r = initialReference(defaultGuestConfig, [va], mem);
  return referenceStep(r, { kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: ROOT } });
}

describe('walkAllowed', () => {
  test('a walk read from memory is allowed', () => {
    expect(walkAllowed(booted(), va, walk)).toBe(true);
  });

  test('no walk is allowed under Bare', () => {
    const bare = referenceStep(booted(), { kind: 'satp', satp: { mode: 'bare' } });
    expect(walkAllowed(bare, va, walk)).toBe(false);
  });

  test('what is not a walk root first, one level at a time, down to one valid leaf, is refused', () => {
    const r = booted();
    expect(walkAllowed(r, va, [])).toBe(false);
    expect(walkAllowed(r, va, walk.slice(1)), 'starts below the root').toBe(false);
    expect(walkAllowed(r, va, walk.slice(0, 2)), 'ends at a pointer').toBe(false);
    expect(walkAllowed(r, va, [walk[0], walk[2]].flatMap((s) => (s === undefined ? [] : [s]))), 'skips a level').toBe(false);
    const leafInMiddle = [step(2, 0x8001_0008n, leaf(L1)), walk[1], walk[2]].flatMap((s) => (s === undefined ? [] : [s]));
    expect(walkAllowed(r, va, leafInMiddle), 'a leaf above the last step').toBe(false);
  });

  test('a walk ends at the first leaf, even where memory holds every step after it', () => {
    // The root slot holds a 1 GiB leaf naming the level-1 table's frame: memory also holds the two reads "below" it.
    const gigapage = step(2, 0x8001_0008n, leaf(L1));
    const r = referenceStep(booted(), { kind: 'ptStore', addr: gigapage.pteAddr, value: gigapage.pte });
    const [, w1, w0] = walk;
    if (w1 === undefined || w0 === undefined) throw new Error('walk has three steps');
    expect(walkAllowed(r, va, [gigapage, w1, w0])).toBe(false);
  });

  test('every read must sit where the previous one points', () => {
    const r = booted();
    const [w2, w1, w0] = walk;
    if (w2 === undefined || w1 === undefined || w0 === undefined) throw new Error('walk has three steps');
    expect(walkAllowed(r, va, [step(2, 0x8001_0010n, w2.pte), w1, w0]), 'root slot of another VPN').toBe(false);
    expect(walkAllowed(r, va, [w2, step(1, 0x8001_1008n, w1.pte), w0]), 'level-1 slot of another VPN').toBe(false);
    expect(walkAllowed(r, va, [w2, w1, step(0, 0x8001_3008n, w0.pte)]), 'a table the pointer does not name').toBe(false);
  });

  test('a value neither memory nor the cache holds is refused; one the cache still holds after a store is allowed until a fence', () => {
    const r = booted();
    const [w2, w1] = walk;
    if (w2 === undefined || w1 === undefined) throw new Error('walk has three steps');
    const other = [w2, w1, step(0, 0x8001_2008n, leaf(0x80401n))];
    expect(walkAllowed(r, va, other), 'a leaf memory never held').toBe(false);

    // The guest retargets the leaf without a fence: the old value may still be cached, the new one is in memory.
    const stored = referenceStep(r, { kind: 'ptStore', addr: gpa(0x8001_2008n), value: leaf(0x80401n) });
    expect(walkAllowed(stored, va, walk), 'the cached old leaf').toBe(true);
    expect(walkAllowed(stored, va, other), 'the new leaf from memory').toBe(true);
    expect(walkAllowed(stored, va, [w2, w1, step(0, 0x8001_2008n, leaf(0x80402n))]), 'a third value').toBe(false);

    const fenced = referenceStep(stored, { kind: 'sfence', rs1: null, rs2: null });
    expect(walkAllowed(fenced, va, walk), 'the old leaf after SFENCE.VMA x0, x0').toBe(false);
    expect(walkAllowed(fenced, va, other)).toBe(true);
  });

  test('a cached value counts only under its own ASID', () => {
    const stored = referenceStep(booted(), { kind: 'ptStore', addr: gpa(0x8001_2008n), value: leaf(0x80401n) });
    const otherAsid = referenceStep(stored, { kind: 'satp', satp: { mode: 'sv39', asid: 2, rootPpn: ROOT } });
    expect(walkAllowed(otherAsid, va, walk), 'ASID 1 cached the old leaf, not ASID 2').toBe(false);
  });
});
