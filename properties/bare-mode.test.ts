/**
 * A guest kernel fences and touches memory before it turns translation on (satp
 * Bare), as early boot code does; then turns it on, and off again. Every design
 * answers as the hart would (an untranslated access, a fence that has nothing to
 * order), under every property. The generator's programs always start by
 * writing an Sv39 satp, so they never reach this.
 */
import { describe, expect, test } from 'vitest';
import { gpa, gva } from '../spec/address.ts';
import { type Memory, emptyMemory, writeWord } from '../spec/memory.ts';
import { encodePte } from '../spec/pte.ts';
import { type MachineEvent, erase } from '../model/machine.ts';
import { npt } from '../model/npt.ts';
import { ssp } from '../model/ssp.ts';
import { tsp } from '../model/tsp.ts';
import { PROPERTIES } from './catalogue.ts';
import { runProgram } from './run.ts';

const R = 0x80010n;
const T1 = 0x80011n;
const T0 = 0x80012n;
const va = gva(0x4000_1000n);
/** A guest-physical address in RAM, reached untranslated under Bare. */
const phys = gva(0x8040_0000n);

function memory(): Memory {
  const slot = (table: bigint, i: bigint) => gpa((table << 12n) + i * 8n);
  let m = emptyMemory;
  m = writeWord(m, slot(R, 1n), encodePte({ ppn: T1 }));
  m = writeWord(m, slot(T1, 0n), encodePte({ ppn: T0 }));
  m = writeWord(m, slot(T0, 1n), encodePte({ ppn: 0x80401n, r: true, w: true, a: true, d: true }));
  return m;
}

const load = (a: typeof va): MachineEvent => ({ kind: 'access', va: a, access: 'load', priv: 'S', value: 0n });

describe.each([erase(npt), erase(tsp), erase(ssp)].map((m) => [m.name, m] as const))('%s', (name, machine) => {
  test('fences and accesses before translation is on, then on, then off again', () => {
    const events: MachineEvent[] = [
      { kind: 'sfence', rs1: null, rs2: null },
      { kind: 'sfence', rs1: va, rs2: null },
      load(phys),
      { kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: R } },
      load(va),
      { kind: 'satp', satp: { mode: 'bare' } },
      { kind: 'sfence', rs1: null, rs2: 1 },
      load(phys),
    ];
    const properties = PROPERTIES.filter((p) => p.models.includes(name));
    const r = runProgram(machine, events, { properties, guest: 'arbitrary', record: true, initialMemory: memory(), universe: [va] });
    expect(r.violation?.message ?? null).toBeNull();
    expect(r.trace).toHaveLength(events.length);
    const seen = r.trace.flatMap((t) => (t.kind === 'step' && t.record.access?.reached.kind === 'guest' ? [t.record.access.reached.key] : []));
    expect(seen).toEqual(['ok pa=0x80400000', 'ok pa=0x80401000', 'ok pa=0x80400000']);
  });
});
