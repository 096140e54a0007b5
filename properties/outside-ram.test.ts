/**
 * A guest leaf that names guest-physical memory outside RAM: the access is an
 * access fault of its own kind (priv spec, step 8's PMA check), on every design;
 * and last-level words that are no leaf (V clear, W without R, a pointer at
 * level 0) with A set, which Svade's A check cannot refuse first: a page fault.
 * Under nested paging the hart raises a guest-page fault (the G-stage maps no
 * such page) and the hypervisor must turn it into the guest's access fault; a
 * shadow maps nothing there and the hypervisor injects the fault. The generator
 * never reaches this (its frames are all RAM, and a gigapage's RAM-less tail lies
 * beyond its addresses), so a scripted guest does, under every property.
 */
import { describe, expect, test } from 'vitest';
import { encodePte } from '../spec/pte.ts';
import { CAUSE } from '../spec/walk.ts';
import { type MachineEvent, erase } from '../model/machine.ts';
import { npt } from '../model/npt.ts';
import { ssp } from '../model/ssp.ts';
import { tsp } from '../model/tsp.ts';
import { L0, ROOT, VA as va, observations, runScripted, slot, walkMemory } from './scripted.ts';

/** 256 MiB above RAM's base: past the 8 MiB of RAM. */
const OUTSIDE = 0x90000n;

const access = (kind: 'load' | 'store' | 'fetch'): MachineEvent => ({ kind: 'access', va, access: kind, priv: 'S', value: 7n });

describe.each([erase(npt), erase(tsp), erase(ssp)].map((m) => [m.name, m] as const))('%s', (_name, machine) => {
  test('an access through a leaf to guest memory outside RAM is an access fault of its kind', () => {
    const events: MachineEvent[] = [{ kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: ROOT } }, access('load'), access('store'), access('fetch'), access('load')];
    const r = runScripted(machine, events, walkMemory(encodePte({ ppn: OUTSIDE, r: true, w: true, x: true, a: true, d: true })));
    expect(r.violation?.message ?? null).toBeNull();
    expect(observations(r)).toEqual([
      { kind: 'fault', cause: CAUSE.loadAccessFault, tval: va },
      { kind: 'fault', cause: CAUSE.storeAccessFault, tval: va },
      { kind: 'fault', cause: CAUSE.fetchAccessFault, tval: va },
      { kind: 'fault', cause: CAUSE.loadAccessFault, tval: va },
    ]);
  });

  test.each([
    ['V clear', encodePte({ ppn: 0x80400n, v: false, r: true, w: true, x: true, a: true, d: true })],
    ['W without R', encodePte({ ppn: 0x80400n, w: true, a: true, d: true })],
    ['a pointer at level 0', encodePte({ ppn: L0, a: true })],
  ])('a last-level word that is no leaf (%s), stored over a leaf in use and fenced, is a page fault of its kind', (_what, word) => {
    const leaf = encodePte({ ppn: 0x80400n, r: true, w: true, x: true, a: true, d: true });
    const events: MachineEvent[] = [
      { kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: ROOT } }, access('load'),
      { kind: 'ptStore', addr: slot(L0, 1n), value: word }, { kind: 'sfence', rs1: null, rs2: null },
      access('load'), access('store'), access('fetch'),
    ];
    const r = runScripted(machine, events, walkMemory(leaf));
    expect(r.violation?.message ?? null).toBeNull();
    expect(observations(r)).toEqual([
      { kind: 'ok', hpa: expect.any(BigInt), value: 0n },
      { kind: 'fault', cause: CAUSE.loadPageFault, tval: va },
      { kind: 'fault', cause: CAUSE.storePageFault, tval: va },
      { kind: 'fault', cause: CAUSE.fetchPageFault, tval: va },
    ]);
  });
});
