/**
 * Throughput benchmark (`npm run bench:throughput`): commands per second of each
 * model stepped beside the reference (no property checks), of a full refinement
 * check, and the per-step cost with guest memory holding 0, 2,000 and 30,000
 * populated pages (RAM enlarged to 128 MiB): a step's cost must not grow with the
 * size of guest memory; and a baseline, one Sv39 hart over plain mutable objects
 * (bench/baseline.ts), for the price of immutability and checking. Figures are
 * ratios measured in one run.
 */
import { gpa } from '../spec/address.ts';
import type { GuestConfig } from '../spec/config.ts';
import { type Memory, pagesOf, writeWord } from '../spec/memory.ts';
import { allowedOutcomes, freshOutcome, initialReference, referenceAccess, referenceStep } from '../spec/reference.ts';
import { npt } from '../model/npt.ts';
import { tsp } from '../model/tsp.ts';
import { ssp } from '../model/ssp.ts';
import { type AnyMachine, type MachineEvent, erase } from '../model/machine.ts';
import { samplePrograms } from '../properties/commands.ts';
import { VAS, bootMemory, guestConfig } from '../properties/pools.ts';
import { propertiesFor } from '../properties/catalogue.ts';
import { runProgram } from '../properties/run.ts';
import { isMain } from '../cli/command.ts';
import { baselineThroughput } from './baseline.ts';

const machines = [erase(npt), erase(tsp), erase(ssp)];

/** Step through the events (after the timer starts: `init` builds the host copy of memory once, outside the steps). */
function stepAll(machine: AnyMachine, events: readonly MachineEvent[], cfg: GuestConfig, mem: Memory, withReference: boolean): number {
  let s = machine.init(cfg, mem);
  let ref = initialReference(cfg, VAS, mem);
  const t0 = performance.now();
  for (const e of events) {
    s = machine.step(s, e).state;
    if (!withReference || e.kind === 'hostRemap' || e.kind === 'hostWriteProtect' || e.kind === 'hostUnprotect') continue;
    if (e.kind === 'access') {
      allowedOutcomes(ref, e);
      ref = referenceAccess(ref, e, freshOutcome(ref, e));
    } else ref = referenceStep(ref, e);
  }
  return (performance.now() - t0) / 1000;
}

const time = (f: () => void): number => {
  const t0 = performance.now();
  f();
  return (performance.now() - t0) / 1000;
};
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
/** Passes of each kind per model; each figure is the fastest. */
const ROUNDS = 4;

export interface Throughput {
  readonly model: string;
  /** Commands per second: the model alone, beside the reference, with every property checked. */
  readonly alone: number;
  readonly beside: number;
  readonly checked: number;
}

/** The 300 sample programs (seed 7) on each model, three ways (the fastest of ROUNDS passes each), and the baseline over plain mutable objects. */
export function throughput(): { programs: number; commands: number; baseline: number; models: Throughput[] } {
  const programs = samplePrograms('arbitrary', 300, 7);
  const commands = programs.reduce((n, p) => n + p.length, 0);
  const boot = new Map(pagesOf(bootMemory()).flatMap(([page, words]) => [...words].map(([slot, w]): [bigint, bigint] => [(page << 12n) + BigInt(slot) * 8n, w])));
  const baseline = Math.max(...Array.from({ length: ROUNDS }, () => baselineThroughput(programs, boot)));
  const models = machines.map((m) => {
    // The properties this model has (a shadow property on NPT ends every program at its first step), and every
    // program must run to its end: a figure made of programs cut short by a violation would be no figure.
    const properties = propertiesFor(m.name);
    const checkedPass = (): void =>
      programs.forEach((p) => {
        const r = runProgram(m, p, { properties, guest: 'arbitrary' });
        if (r.violation !== null || r.stats.steps !== p.length) throw new Error(`${m.name}: ${r.violation?.property ?? 'a'} check stopped a program at step ${r.stats.steps} of ${p.length}`);
      });
    // Each figure is the fastest of ROUNDS passes, the three kinds interleaved: the first pass runs
    // cold (interpreter and baseline compiler; the checked one took twice its steady time), and on a
    // shared machine one pass swings by a third with whatever else runs, the fastest of several much less.
    let [alone, withRef, checked] = [Infinity, Infinity, Infinity];
    for (let round = 0; round < ROUNDS; round++) {
      alone = Math.min(alone, sum(programs.map((p) => stepAll(m, p, guestConfig, bootMemory(), false))));
      withRef = Math.min(withRef, sum(programs.map((p) => stepAll(m, p, guestConfig, bootMemory(), true))));
      checked = Math.min(checked, time(checkedPass));
    }
    return { model: m.name, alone: commands / alone, beside: commands / withRef, checked: commands / checked };
  });
  return { programs: programs.length, commands, baseline, models };
}

export interface MemoryScaling {
  readonly model: string;
  /** A step's time with 2,000 and with 30,000 populated guest pages, over its time with none. */
  readonly pages2000: number;
  readonly pages30000: number;
}

/** 100 sample programs beside the reference with guest memory holding 0, 2,000 and 30,000 populated pages (RAM 128 MiB), the fastest of three runs each. */
export function memoryScaling(): MemoryScaling[] {
  const programs = samplePrograms('arbitrary', 100, 7);
  const bigRam: GuestConfig = { ...guestConfig, ramPages: 32768n };
  const filled = (pages: number): Memory => {
    let mem = bootMemory();
    for (let i = 0; i < pages; i++) mem = writeWord(mem, gpa((0x81000n + BigInt(i)) << 12n), BigInt(i + 1));
    return mem;
  };
  const mems = [0, 2000, 30000].map(filled);
  // Per program, the fastest of three runs at each size, the sizes interleaved: on a shared machine one
  // sum per size swings with whatever else runs (a collection, another process), the fastest of three much less.
  return machines.map((m) => {
    const totals = [0, 0, 0];
    for (const p of programs) {
      const best = [Infinity, Infinity, Infinity];
      for (let round = 0; round < 3; round++) mems.forEach((mem, k) => (best[k] = Math.min(best[k] as number, stepAll(m, p, bigRam, mem, true))));
      best.forEach((t, k) => (totals[k] = (totals[k] as number) + t));
    }
    const [none, two, thirty] = totals as [number, number, number];
    return { model: m.name, pages2000: two / none, pages30000: thirty / none };
  });
}

if (isMain(import.meta.url)) {
  const t = throughput();
  console.log(`${t.programs} programs, ${t.commands} commands; baseline (one Sv39 hart over mutable Maps, nothing checked): ${t.baseline.toFixed(0)} commands/s`);
  for (const m of t.models) {
    console.log(`${m.model}: ${m.alone.toFixed(0)} commands/s alone, ${m.beside.toFixed(0)} beside the reference, ${m.checked.toFixed(0)} with every property checked (${(m.checked / m.alone).toFixed(3)}x alone, ${(m.alone / t.baseline).toFixed(3)}x the baseline)`);
  }
  for (const m of memoryScaling()) console.log(`${m.model}: per-step time with 2000 / 30000 populated pages vs none: ${m.pages2000.toFixed(2)}x / ${m.pages30000.toFixed(2)}x`);
}
