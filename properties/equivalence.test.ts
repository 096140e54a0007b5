/**
 * On programs of a well-behaved guest (eager fences, no G bits, one ASID per
 * root) NPT, TSP and SSP produce identical observation traces.
 */
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { npt } from '../model/npt.ts';
import { tsp } from '../model/tsp.ts';
import { ssp } from '../model/ssp.ts';
import { type AnyMachine, erase } from '../model/machine.ts';
import { guestPageOf } from '../model/host.ts';
import { PAGE_SHIFT } from '../spec/address.ts';
import { programArb, resolveProgram } from './commands.ts';
import { bootMemory, guestConfig } from './pools.ts';
import { testBudget } from './test-budget.ts';
import type { MachineEvent } from '../model/machine.ts';

const budget = testBudget('properties/equivalence.test.ts');

/** The guest's observations: per access, the guest-physical word and value, or the fault. */
function observe(machine: AnyMachine, events: readonly MachineEvent[]): string[] {
  let s = machine.init(guestConfig, bootMemory());
  const out: string[] = [];
  for (const e of events) {
    const r = machine.step(s, e);
    s = r.state;
    const o = r.observation;
    if (o === null) continue;
    if (o.kind === 'fault') out.push(`fault ${o.cause} ${o.tval.toString(16)}`);
    else out.push(`ok ${guestPageOf(machine.view.host(s), o.hpa >> PAGE_SHIFT)?.toString(16)}:${(o.hpa & 0xfffn).toString(16)} = ${o.value.toString(16)}`);
  }
  return out;
}

test('NPT, TSP and SSP give a well-behaved guest identical observation traces', () => {
  let accesses = 0;
  fc.assert(
    fc.property(programArb('well-behaved', budget.maxCommands), (program) => {
      const events = resolveProgram(program, 'well-behaved');
      const [a, b, c] = [erase(npt), erase(tsp), erase(ssp)].map((m) => observe(m, events));
      accesses += a?.length ?? 0;
      expect(b).toEqual(a);
      expect(c).toEqual(a);
    }),
    { numRuns: budget.runs, seed: budget.seed },
  );
  expect(accesses / budget.runs).toBeGreaterThan(5);
});
