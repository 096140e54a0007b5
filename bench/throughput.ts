/**
 * Throughput benchmark (`npm run bench:throughput`): commands per second of each
 * model stepped beside the reference (no property checks), of a full refinement
 * check, and the per-step cost with guest memory holding 0, 2,000 and 30,000
 * populated pages (RAM enlarged to 128 MiB): a step's cost must not grow with the
 * size of guest memory. Figures are ratios measured in one run.
 */
import { gpa } from '../spec/address.ts';
import type { GuestConfig } from '../spec/config.ts';
import { type Memory, writeWord } from '../spec/memory.ts';
import { allowedOutcomes, freshOutcome, initialReference, referenceAccess, referenceStep } from '../spec/reference.ts';
import { npt } from '../model/npt.ts';
import { tsp } from '../model/tsp.ts';
import { ssp } from '../model/ssp.ts';
import { type AnyMachine, type MachineEvent, erase } from '../model/machine.ts';
import { samplePrograms } from '../properties/commands.ts';
import { VAS, bootMemory, guestConfig } from '../properties/pools.ts';
import { propertiesFor } from '../properties/catalogue.ts';
import { runProgram } from '../properties/run.ts';

const programs = samplePrograms('arbitrary', 300, 7);
const commands = programs.reduce((n, p) => n + p.length, 0);
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

console.log(`${programs.length} programs, ${commands} commands`);
for (const m of machines) {
  const alone = sum(programs.map((p) => stepAll(m, p, guestConfig, bootMemory(), false)));
  const withRef = sum(programs.map((p) => stepAll(m, p, guestConfig, bootMemory(), true)));
  // The properties this model has (a shadow property on NPT ends every program at its first step), and every
  // program must run to its end: a figure made of programs cut short by a violation would be no figure.
  const properties = propertiesFor(m.name);
  const checked = time(() =>
    programs.forEach((p) => {
      const r = runProgram(m, p, { properties, guest: 'arbitrary' });
      if (r.violation !== null || r.stats.steps !== p.length) throw new Error(`${m.name}: ${r.violation?.property ?? 'a'} check stopped a program at step ${r.stats.steps} of ${p.length}`);
    }),
  );
  console.log(`${m.name}: ${(commands / alone).toFixed(0)} commands/s alone, ${(commands / withRef).toFixed(0)} beside the reference, ${(commands / checked).toFixed(0)} with every property checked`);
}

const bigRam: GuestConfig = { ...guestConfig, ramPages: 32768n };
const filled = (pages: number): Memory => {
  let mem = bootMemory();
  for (let i = 0; i < pages; i++) mem = writeWord(mem, gpa((0x81000n + BigInt(i)) << 12n), BigInt(i + 1));
  return mem;
};
const sizes = [0, 2000, 30000];
const mems = sizes.map(filled);
for (const m of machines) {
  const subset = programs.slice(0, 100);
  const base = sum(subset.map((p) => stepAll(m, p, bigRam, mems[0] as Memory, true)));
  const ratios = mems.slice(1).map((mem) => sum(subset.map((p) => stepAll(m, p, bigRam, mem, true))) / base);
  console.log(`${m.name}: per-step time with ${sizes.slice(1).join(' / ')} populated pages vs none: ${ratios.map((r) => `${r.toFixed(2)}x`).join(' / ')}`);
}
