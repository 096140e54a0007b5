/**
 * Scripted guests for the tests: a hand-written program run beside the reference
 * with every property of the model checked at every step, on a small guest memory
 * whose one walk for 0x4000_1000 goes root 0x80010 -> 0x80011 -> 0x80012.
 */
import { type Gpa, gpa, gva } from '../spec/address.ts';
import { type Memory, emptyMemory, writeWord } from '../spec/memory.ts';
import { encodePte } from '../spec/pte.ts';
import type { AnyMachine, MachineEvent, Observation } from '../model/machine.ts';
import { propertiesFor } from './catalogue.ts';
import type { AdMode } from './pools.ts';
import { type RunResult, runProgram } from './run.ts';

export const ROOT = 0x80010n;
export const L1 = 0x80011n;
export const L0 = 0x80012n;
/** VPN[2] = 1, VPN[1] = 0, VPN[0] = 1: its PTEs are ROOT[1], L1[0] and L0[1]. */
export const VA = gva(0x4000_1000n);

/** The address of entry `i` of the table page `table`. */
export const slot = (table: bigint, i: bigint): Gpa => gpa((table << 12n) + i * 8n);

/** Guest memory holding VA's walk down to the word `last` at L0[1], and any other words given. */
export function walkMemory(last: bigint, more: readonly (readonly [Gpa, bigint])[] = []): Memory {
  let m = emptyMemory;
  for (const [a, v] of [[slot(ROOT, 1n), encodePte({ ppn: L1 })], [slot(L1, 0n), encodePte({ ppn: L0 })], [slot(L0, 1n), last], ...more] as const) {
    m = writeWord(m, a, v);
  }
  return m;
}

/** Run the events on the machine from `memory`, every property of the model checked, every step kept. */
export function runScripted(machine: AnyMachine, events: readonly MachineEvent[], memory: Memory, universe = [VA], ad: AdMode = 'svade'): RunResult {
  return runProgram(machine, events, { properties: propertiesFor(machine.name), guest: 'arbitrary', record: true, initialMemory: memory, universe, ad });
}

/** What the guest saw at each access of a run. */
export const observations = (r: RunResult): (Observation | null)[] =>
  r.trace.flatMap((t) => (t.kind === 'step' && t.record.access !== null ? [t.record.result.observation] : []));
