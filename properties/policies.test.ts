/**
 * A design choice the shadow policy offers but neither TSP nor SSP takes keeps
 * every property: shadows that map a guest superpage with 4 KiB shadow leaves
 * only (`superpages: false`, as a hypervisor without huge shadow pages does).
 * Checked on fixed programs with every property at every step, and shown not
 * vacuous: the programs map guest superpages, and every one of them is split.
 */
import { describe, expect, test } from 'vitest';
import { erase } from '../model/machine.ts';
import { shadowMachine } from '../model/shadow.ts';
import { sspPolicy } from '../model/ssp.ts';
import { tspPolicy } from '../model/tsp.ts';
import { propertiesFor } from './catalogue.ts';
import { type GuestKind, samplePrograms } from './commands.ts';
import { runProgram } from './run.ts';

const SEED = 20261130;
const PER_GUEST = 15;

describe.each([tspPolicy, sspPolicy].map((p) => [p.name, p] as const))('%s without superpage shadow leaves', (_name, policy) => {
  const machine = erase(shadowMachine({ ...policy, superpages: false }));
  const properties = propertiesFor(policy.name);

  test('keeps every property, and maps every guest superpage with 4 KiB shadow leaves', () => {
    let splits = 0;
    for (const guest of ['well-behaved', 'arbitrary'] as GuestKind[]) {
      for (const events of samplePrograms(guest, PER_GUEST, SEED)) {
        const r = runProgram(machine, events, { properties, guest, record: true });
        expect(r.violation?.message ?? null).toBeNull();
        for (const t of r.trace) {
          if (t.kind !== 'step') continue;
          const leaves = machine.view.shadowLeaves(t.record.after);
          expect(leaves.filter((l) => l.level > 0)).toEqual([]);
          splits += leaves.filter((l) => l.guestLevel > 0).length;
        }
      }
    }
    // Shadow leaves (counted once per step they exist) that map a piece of a guest superpage.
    expect(splits).toBeGreaterThan(10);
  });
});
