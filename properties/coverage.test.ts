/**
 * The generator coverage classifier counts what its definitions say, on hand-made
 * events over the boot page tables (properties/pools.ts): root p0 -> p1 -> p2 and
 * root p3 -> p4 -> p5 or p2, with p1 also a pool root.
 */
import { expect, test } from 'vitest';
import { type Gva, gva } from '../spec/address.ts';
import { encodePte } from '../spec/pte.ts';
import type { MachineEvent } from '../model/machine.ts';
import { type CoverageName, coverage, startCoverage } from './coverage.ts';
import { PT_FRAMES, bootMemory, pteAddress } from './pools.ts';

const [p0, p1, p2, p3, p4, p5] = PT_FRAMES as [bigint, bigint, bigint, bigint, bigint, bigint];
const pointer = (f: bigint) => encodePte({ ppn: f });
const store = (frame: bigint, slot: bigint, value: bigint): MachineEvent => ({ kind: 'ptStore', addr: pteAddress(frame, slot), value });
const satp = (root: bigint): MachineEvent => ({ kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: root } });
const write = (va: Gva): MachineEvent => ({ kind: 'access', va, access: 'store', priv: 'S', value: 7n });
/** vpn[2]=1, vpn[1]=0, vpn[0]=1: through p0[1], p1[0], p2[1]. */
const VA = gva(0x4000_1000n);

/** The counts of each event of a program, in order. */
function counts(events: readonly MachineEvent[]): (readonly CoverageName[])[] {
  let b = startCoverage(bootMemory());
  return events.map((e) => {
    const c = coverage(e, b);
    b = c.bookkeeping;
    return c.counts;
  });
}

test('a pointer change counts at each level some walk of a pool VA reads the slot at, or as unlinked', () => {
  expect(counts([
    store(p0, 1n, 0n), // root p0's level-2 slot
    store(p4, 1n, 0n), // p3's level-1 slot pointing to p2
    store(p2, 1n, pointer(p5)), // a leaf slot of p2, which root p1 reaches at level 1 and p0 and p3 at level 0: shared
    store(p5, 256n, pointer(p4)), // no pool VA's walk reads slot 256 of a level-0 table
    store(p5, 256n, pointer(p4)), // the same value again changes nothing
    store(p2, 2n, 0n), // a leaf cleared: no pointer on either side
  ])).toEqual([
    ['pointer-change-l2'], ['pointer-change-l1'], ['pointer-change-l1', 'pointer-change-l0', 'pointer-change-shared'], ['pointer-change-unlinked'], [], [],
  ]);
});

test('a pointer change on a walk the program used counts at that level; one two roots read below their root, as shared', () => {
  const load = (va: Gva): MachineEvent => ({ kind: 'access', va, access: 'load', priv: 'S', value: 0n });
  expect(counts([
    satp(p0),
    load(gva(VA + 0x10n)), // walks p0[1] -> p1[0] -> p2[1], whatever the offset
    load(gva(0x4020_2000n)), // walks p0[1] -> p1[1] -> p2[2]
    store(p0, 2n, 0n), // read at level 2 by walks of vpn[2]=2, which the program never used
    store(p1, 0n, pointer(p4)), // read at level 1 by a used walk from p0; no other root reads it
    store(p1, 1n, pointer(p4)), // read at level 1 by a used walk from p0, and at level 2 from root p1
    store(p0, 1n, pointer(p5)), // the used walks' root slot
    store(p0, 1n, pointer(p5)), // no change
  ])).toEqual([
    ['satp-shared-table'],
    [],
    [],
    ['pointer-change-l2'],
    ['pointer-change-l1', 'pointer-change-used-l1'],
    ['pointer-change-l2', 'pointer-change-l1', 'pointer-change-used-l1', 'pointer-change-shared'],
    ['pointer-change-l2', 'pointer-change-used-l2'],
    [],
  ]);
});

test('a data store counts on a PTE when a pool walk reads the word it lands on', () => {
  const leafOnP4 = encodePte({ ppn: p4, r: true, w: true, a: true, d: true });
  expect(counts([
    satp(p0),
    store(p2, 1n, leafOnP4), // VA now maps p3's level-1 table p4 as data
    write(VA), // p4[0]: p3's walks of vpn[1]=0 read it at level 1
    write(gva(VA + 0x18n)), // p4[3]: no pool walk reads it
    write(gva(VA + 0x800n)), // p4[256]: no pool walk reads it at level 1
  ])).toEqual([['satp-shared-table'], [], ['data-store-on-pte'], ['data-store-new-offset'], ['data-store-new-offset']]);
});

test('freeing a table, reusing it as data once, and relinking it', () => {
  const leafOnP5 = encodePte({ ppn: p5, r: true, w: true, a: true, d: true });
  const [, freed, retarget, , reused, again, otherWord, relinked, later] = counts([
    store(p5, 1n, 0n),
    store(p5, 2n, 0n), // p5's last non-zero word
    store(p2, 1n, leafOnP5), // VA now maps p5 as data
    satp(p0),
    write(VA),
    write(VA),
    write(gva(VA + 8n)),
    store(p1, 0n, pointer(p5)),
    write(gva(VA + 16n)),
  ]);
  expect(freed).toEqual(['table-freed']);
  expect(retarget).toEqual([]);
  expect(reused).toEqual(['freed-table-reused-as-data']);
  expect(again).toEqual([]);
  // p5 was emptied, not unlinked: p4[0] still points to it, and root p3's walk of VA reads slot 1 at level 0.
  expect(otherWord).toEqual(['data-store-new-offset', 'data-store-on-pte']);
  // p1[0] is on the walk of VA from p0, which the program used.
  expect(relinked).toEqual(['pointer-change-l1', 'pointer-change-used-l1', 'freed-table-relinked']);
  // Relinked, p5 is a table again: the walk of VA now goes p1[0] -> p5[1], which is zero, so the store faults.
  expect(later).toEqual([]);
});

test('a store that faults by the guest\'s walk stores nothing', () => {
  const readOnly = encodePte({ ppn: 0x80400n, r: true, a: true, d: true });
  expect(counts([satp(p0), store(p2, 1n, readOnly), write(VA), write(gva(VA + 8n))])).toEqual([['satp-shared-table'], [], [], []]);
});

test('a satp write counts when the root shares a lower-level table with another pool root', () => {
  expect(counts([satp(p0), satp(p3), store(p4, 1n, 0n), satp(p3), satp(p0), { kind: 'satp', satp: { mode: 'bare' } }])).toEqual([
    ['satp-shared-table'], // p2 is below p0 and p3 at boot
    ['satp-shared-table'],
    ['pointer-change-l1'],
    [], // p3 now reaches p4 and p5 only
    ['satp-shared-table'], // p2 is still below p0 and below p1 as a root
    [],
  ]);
});
