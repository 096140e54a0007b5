/**
 * TSP's whole correctness rests on write protection: a guest page becomes
 * read-only in every shadow leaf that maps it as soon as it becomes a page table,
 * even when a writable leaf already maps it, and gets W back once no shadow page
 * mirrors it. A scripted guest that maps one of its pages writable, then makes it
 * a page table, then writes a PTE into it through the old mapping, and fences:
 * the store must exit and reach the shadow (or the guest's next walk is stale
 * after its fence, and refinement fails); and after the page stops being a
 * table, the same store must not exit.
 */
import { expect, test } from 'vitest';
import { type Gva, gva } from '../spec/address.ts';
import { encodePte } from '../spec/pte.ts';
import { type MachineEvent, erase } from '../model/machine.ts';
import { tsp } from '../model/tsp.ts';
import { L1, ROOT, VA as X, runScripted, slot, walkMemory } from './scripted.ts';

/** The page that becomes a page table. */
const P = 0x80013n;
const D = 0x80400n;
const D2 = 0x80401n;
/** X (vpn 1/0/1) maps P; Y (vpn 1/1/1) is mapped through P once P is a table. */
const Y = gva(0x4020_1000n);
const pointer = (ppn: bigint) => encodePte({ ppn });
const leaf = (ppn: bigint) => encodePte({ ppn, r: true, w: true, a: true, d: true });

const access = (va: Gva, kind: 'load' | 'store', value = 0n): MachineEvent => ({ kind: 'access', va, access: kind, priv: 'S', value });
const fence: MachineEvent = { kind: 'sfence', rs1: null, rs2: null };

test('TSP write-protects a page that becomes a table under an existing writable mapping, and gives W back after', () => {
  const events: MachineEvent[] = [
    { kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: ROOT } },
    access(X, 'store', 1n), // 1: the shadow maps P writable: P is no table yet
    { kind: 'ptStore', addr: slot(L1, 1n), value: pointer(P) }, // 2: P becomes the level-0 table for Y
    fence,
    access(Y, 'load'), // 4: the shadow now mirrors P: X's leaf loses W
    access(gva(X + 8n), 'store', leaf(D2)), // 5: through X, P[1] := a leaf to D2: must exit
    fence,
    access(Y, 'load'), // 7: after the fence, Y maps D2
    { kind: 'ptStore', addr: slot(L1, 1n), value: 0n }, // 8: P is no table any more
    fence,
    access(gva(X + 8n), 'store', leaf(D)), // 10: no exit
  ];
  const r = runScripted(erase(tsp), events, walkMemory(leaf(P), [[slot(P, 1n), leaf(D)]]), [X, Y]);
  expect(r.violation?.message ?? null).toBeNull();
  const steps = r.trace.map((t) => (t.kind === 'step' ? t.record : null));
  const at = (i: number) => {
    const s = steps[i];
    if (s === null || s === undefined) throw new Error(`step ${i} did not run`);
    return s;
  };
  expect(at(4).result.events).toContain('write-protect-applied');
  expect(at(5).result.traps.map((t) => t.reason)).toEqual(['shadow-permission']);
  const seen = at(7).access?.reached;
  expect(seen?.kind === 'guest' ? seen.outcome : seen).toMatchObject({ kind: 'ok', pa: D2 << 12n });
  expect(at(8).result.events).toContain('write-access-restored');
  expect(at(10).result.traps).toEqual([]);
});
