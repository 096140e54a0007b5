/**
 * A guest kernel fences and touches memory before it turns translation on (satp
 * Bare), as early boot code does; then turns it on, and off again. Every design
 * answers as the hart would (an untranslated access, a fence that has nothing to
 * order), under every property. The generator's programs always start by
 * writing an Sv39 satp, so they never reach this.
 */
import { describe, expect, test } from 'vitest';
import { gva } from '../spec/address.ts';
import { encodePte } from '../spec/pte.ts';
import { type MachineEvent, erase } from '../model/machine.ts';
import { npt } from '../model/npt.ts';
import { ssp } from '../model/ssp.ts';
import { tsp } from '../model/tsp.ts';
import { ROOT, VA as va, runScripted, walkMemory } from './scripted.ts';

/** A guest-physical address in RAM, reached untranslated under Bare. */
const phys = gva(0x8040_0000n);

const load = (a: typeof va): MachineEvent => ({ kind: 'access', va: a, access: 'load', priv: 'S', value: 0n });

describe.each([erase(npt), erase(tsp), erase(ssp)].map((m) => [m.name, m] as const))('%s', (_name, machine) => {
  test('fences and accesses before translation is on, then on, then off again', () => {
    const events: MachineEvent[] = [
      { kind: 'sfence', rs1: null, rs2: null },
      { kind: 'sfence', rs1: va, rs2: null },
      load(phys),
      { kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: ROOT } },
      load(va),
      { kind: 'satp', satp: { mode: 'bare' } },
      { kind: 'sfence', rs1: null, rs2: 1 },
      load(phys),
    ];
    const r = runScripted(machine, events, walkMemory(encodePte({ ppn: 0x80401n, r: true, w: true, a: true, d: true })));
    expect(r.violation?.message ?? null).toBeNull();
    expect(r.trace).toHaveLength(events.length);
    const seen = r.trace.flatMap((t) => (t.kind === 'step' && t.record.access?.reached.kind === 'guest' ? [t.record.access.reached.key] : []));
    expect(seen).toEqual(['ok pa=0x80400000', 'ok pa=0x80401000', 'ok pa=0x80400000']);
  });
});
