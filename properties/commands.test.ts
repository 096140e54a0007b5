/**
 * The idioms that reach the structure of the guest's tables resolve, against the
 * guest's bookkeeping, into the events their comments promise, on the boot tables
 * (properties/pools.ts): root p0 -> p1 -> p2 -> d0, d1 and root p3 -> p4 -> p5 or p2.
 */
import { expect, test } from 'vitest';
import { gva } from '../spec/address.ts';
import { pageWords, readWord } from '../spec/memory.ts';
import { encodePte } from '../spec/pte.ts';
import type { MachineEvent } from '../model/machine.ts';
import { type Command, type GuestKind, bootBookkeeping, describeCommand, resolve } from './commands.ts';
import { PT_FRAMES, bootMemory, pteAddress } from './pools.ts';

const [p0, p1, p2, p3, p4, p5] = PT_FRAMES as [bigint, bigint, bigint, bigint, bigint, bigint];
const pointer = (f: bigint) => encodePte({ ppn: f });
const store = (frame: bigint, slot: bigint, value: bigint): MachineEvent => ({ kind: 'ptStore', addr: pteAddress(frame, slot), value });
const FENCE_ALL: MachineEvent = { kind: 'sfence', rs1: null, rs2: null };

function run(kind: GuestKind, ...commands: Command[]) {
  let g = bootBookkeeping();
  const events: MachineEvent[][] = [];
  for (const c of commands) {
    const r = resolve(c, g, kind);
    events.push(r.events);
    g = r.g;
  }
  return { events, g };
}

test('a well-behaved guest frees a table page, reuses it as data, clears it and links it back where it was, fencing each stage', () => {
  const { events: [events = []], g } = run('well-behaved', {
    kind: 'reuseTable', frame: 0, va: 0, words: [{ slot: 1, value: 0x1234n }], relink: 'parents', clear: true, fenced: true, access: 'load',
  });
  // VA 0x4000_1000 walks p0 -> p1 -> p2; off that walk and no root, the first page-table page is p4, linked from p3[1] and p3[2].
  const dataLeaf = encodePte({ ppn: p4, r: true, w: true, a: true, d: true });
  const firstStore = events.findIndex((e) => e.kind === 'access');
  expect(events.slice(0, 5)).toEqual([store(p3, 1n, 0n), store(p3, 2n, 0n), store(p4, 0n, 0n), store(p4, 1n, 0n), FENCE_ALL]);
  expect(events[5]).toEqual(store(p2, 1n, dataLeaf));
  // The leaf change is fenced (by address, for every VA whose walk ends there) before the store through it.
  expect(events.slice(6, firstStore).length).toBeGreaterThan(0);
  expect(events.slice(6, firstStore).every((e) => e.kind === 'sfence')).toBe(true);
  expect(events.slice(firstStore)).toEqual([
    { kind: 'access', va: gva(0x4000_1008n), access: 'store', priv: 'S', value: 0x1234n },
    store(p4, 1n, 0n), // the word it wrote, cleared
    store(p2, 1n, readWord(bootMemory(), pteAddress(p2, 1n))), // VA's own leaf back
    store(p3, 1n, pointer(p4)), store(p3, 2n, pointer(p4)),
    FENCE_ALL,
    { kind: 'access', va: gva(0x4000_1008n), access: 'load', priv: 'S', value: 0xa5n },
  ]);
  expect(pageWords(g.mem, p4).size).toBe(0);
  expect(readWord(g.mem, pteAddress(p3, 1n))).toBe(pointer(p4));
});

test('an arbitrary guest may link the reused page back under the walk of the VA without clearing it or fencing', () => {
  const { events: [events = []], g } = run('arbitrary', {
    kind: 'reuseTable', frame: 1, va: 0, words: [{ slot: 1, value: 7n }, { slot: 300, value: 8n }], relink: 'walk', clear: false, fenced: false, access: 'store',
  });
  // Off the walk p0 -> p1 -> p2 the arbitrary guest may take p3, p4, p5: the second is p4.
  const dataLeaf = encodePte({ ppn: p4, r: true, w: true, a: true, d: true });
  expect(events).toEqual([
    store(p3, 1n, 0n), store(p3, 2n, 0n), store(p4, 0n, 0n), store(p4, 1n, 0n),
    store(p2, 1n, dataLeaf),
    { kind: 'access', va: gva(0x4000_1008n), access: 'store', priv: 'S', value: 7n },
    { kind: 'access', va: gva(0x4000_1000n + 300n * 8n), access: 'store', priv: 'S', value: 8n },
    store(p1, 0n, pointer(p4)), // VA's level-1 PTE now leads to the page still holding the words
    { kind: 'access', va: gva(0x4000_1008n), access: 'store', priv: 'S', value: 0xa5n },
  ]);
  expect(readWord(g.mem, pteAddress(p2, 1n))).toBe(dataLeaf);
});

test('the pointer idiom changes the PTE at the asked level of the walk of a page the program touched', () => {
  const { events: [, events = []], g } = run('well-behaved',
    { kind: 'access', va: 5, offset: 0x10n, access: 'load', priv: 'S', value: 0n }, // 0x8000_2000: p0[2] -> p1[0] -> p2[2]
    { kind: 'pointerIdiom', space: 'current', va: 3, used: true, level: 1, target: { kind: 'table', frame: 5, g: false }, fence: 'none', access: 'load' },
  );
  // Touched already: no first touch; the well-behaved guest's pointer change is followed by SFENCE.VMA x0, x0.
  expect(events).toEqual([store(p1, 0n, pointer(p5)), FENCE_ALL, { kind: 'access', va: gva(0x8000_2000n), access: 'load', priv: 'S', value: 0x5an }]);
  expect(g.touched).toEqual([5]);
});

test('the pointer idiom on a walk that ends above the asked level changes the PTE that ends it, and an arbitrary guest fences as told', () => {
  const { events: [, events = []] } = run('arbitrary',
    { kind: 'ptStore', frame: 0, slot: 1, value: 0n }, // p0[1] cleared: walks of vpn[2]=1 end at the root
    { kind: 'pointerIdiom', space: 'current', va: 0, used: false, level: 1, target: { kind: 'empty-table', n: 0 }, fence: 'va', access: 'store' },
  );
  const touch = (access: 'load' | 'store'): MachineEvent => ({ kind: 'access', va: gva(0x4000_1000n), access, priv: 'S', value: 0x5an });
  // No page-table page is empty at boot: the empty-table target falls back to table 0, p0 itself.
  expect(events).toEqual([touch('load'), store(p0, 1n, pointer(p0)), { kind: 'sfence', rs1: gva(0x4000_1000n), rs2: null }, touch('store')]);
});

test('an access may use any word of its page, and commands print with hex values', () => {
  const { events: [events = []] } = run('arbitrary', { kind: 'access', va: 0, offset: 0x7f8n, access: 'store', priv: 'S', value: 1n });
  expect(events).toEqual([{ kind: 'access', va: gva(0x4000_17f8n), access: 'store', priv: 'S', value: 1n }]);
  expect(describeCommand({ kind: 'access', va: 0, offset: 0x7f8n, access: 'store', priv: 'S', value: 0x1234n })).toContain('"offset":"0x7f8"');
  expect(describeCommand({ kind: 'reuseTable', frame: 0, va: 0, words: [{ slot: 256, value: 0xdeadn }], relink: 'later', clear: true, fenced: true, access: 'load' }))
    .toContain('"words":[{"slot":256,"value":"0xdead"}]');
});
