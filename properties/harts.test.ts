/**
 * NPT, TSP and SSP with several vCPUs (model/vcpus.ts) against the N-hart
 * reference (spec/harts.ts), in lockstep (properties/harts-run.ts,
 * docs/decisions/0015):
 *
 * - with one hart, each several-vCPU machine is its one-hart machine, step for step;
 * - with 2 and 4 harts, the three designs pass every property of the catalogue per
 *   hart (each as its scope says, properties/property.ts), isolation over every
 *   hart's translations, and the SBI return values and traps, on random programs
 *   (arbitrary, and well-behaved ones where every allowed set must have one
 *   element), and the programs reach floors on
 *   remote fences, cross-hart races, stale outcomes allowed on a hart a remote fence
 *   missed, accesses just after a remote fence, and (SSP) resyncs another hart sees;
 * - every seeded several-hart variant (model/vcpu-variants.ts) is caught on a fixed seed.
 *
 * The seed is SSP_SPEC_SEED or drawn, and printed with a line that reproduces the
 * run; SSP_SPEC_HARTS_RUNS deepens it (default 60 programs of at most 30 commands per
 * model with 2 harts, two thirds as many with 4, and a third as many well-behaved
 * ones). Budgets are counts of programs, never times.
 */
import { afterAll, describe, expect, test } from 'vitest';
import type { MachineEvent } from '../model/machine.ts';
import { MODELS, MODEL_NAMES } from '../model/models.ts';
import { HART_VARIANTS } from '../model/vcpu-variants.ts';
import { VCPU_MODELS } from '../model/vcpus.ts';
import { samplePrograms } from './commands.ts';
import { sampleHartsPrograms } from './harts-commands.ts';
import {
  HARTS_SHOWN_EVENTS, type HartsStats, WELL_BEHAVED_FLOORS, addHartsStats, describeVcpuStep, emptyHartsStats, hartsFloors, runHartsProgram,
} from './harts-run.ts';
import { bootMemory, guestConfig } from './pools.ts';
import { envCount, envSeed } from './seed.ts';

const FILE = 'properties/harts.test.ts';
const SEED = envSeed('SSP_SPEC_SEED');
const RUNS = envCount('SSP_SPEC_HARTS_RUNS', 60);
const MAX_COMMANDS = 30;
/** Programs per model with 4 harts (they reach more cross-hart events per program than 2 harts do), and well-behaved ones. */
const RUNS_4 = Math.max(10, Math.round((RUNS * 2) / 3));
const WELL_BEHAVED_RUNS = Math.max(10, Math.round(RUNS / 3));

console.log(`${FILE}: seed ${SEED}, ${RUNS} programs of at most ${MAX_COMMANDS} commands per model with 2 harts, ${RUNS_4} with 4, ${WELL_BEHAVED_RUNS} well-behaved (reproduce: SSP_SPEC_SEED=${SEED} SSP_SPEC_HARTS_RUNS=${RUNS} npx vitest run ${FILE})`);

const figures: string[] = [];
afterAll(() => {
  console.log(`${FILE}: per 100 programs\n${figures.join('\n')}`);
});

describe('one hart is the one-hart machine', () => {
  const programs = samplePrograms('arbitrary', 25, SEED | 0, 40);
  for (const name of MODEL_NAMES) {
    test(name, () => {
      const one = MODELS[name];
      const vm = VCPU_MODELS[name];
      for (const events of programs) {
        let s = one.init(guestConfig, bootMemory());
        let v = vm.init(guestConfig, bootMemory(), 1);
        for (const e of events as MachineEvent[]) {
          const r = one.step(s, e);
          const step = e.kind === 'hostRemap' || e.kind === 'hostWriteProtect' || e.kind === 'hostUnprotect'
            ? { kind: 'host' as const, hart: 0, event: e } : { kind: 'guest' as const, hart: 0, action: e };
          const rv = vm.step(v, step);
          expect(rv.observation).toEqual(r.observation);
          expect(rv.traps).toEqual(r.traps);
          expect(rv.events).toEqual(r.events);
          expect(rv.cross).toEqual([]);
          expect(vm.view.host(rv.state).mem).toEqual(one.view.host(r.state).mem);
          expect(one.view.snapshot(vm.view.hart(rv.state, 0))).toEqual(one.view.snapshot(r.state));
          s = r.state;
          v = rv.state;
        }
      }
    });
  }
});

describe.each([2, 4])('%i harts', (harts) => {
  const runs = harts === 2 ? RUNS : RUNS_4;
  const programs = sampleHartsPrograms(harts, runs, SEED | 0, MAX_COMMANDS);
  const wellBehaved = sampleHartsPrograms(harts, WELL_BEHAVED_RUNS, SEED | 0, MAX_COMMANDS, 'well-behaved');
  for (const name of MODEL_NAMES) {
    test(`${name}: every property per hart, isolation across harts, SBI returns and traps, with floors`, () => {
      const stats: HartsStats = emptyHartsStats();
      for (const [k, p] of programs.entries()) {
        const ad = k % 2 === 0 ? 'svade' : 'svadu';
        const r = runHartsProgram(VCPU_MODELS[name], p, { ad });
        addHartsStats(stats, r.stats);
        if (r.violation !== null) {
          const trace = runHartsProgram(VCPU_MODELS[name], p, { ad, record: true }).trace;
          throw new Error(`${name}, ${harts} harts, program ${k}: ${r.violation.check} fails at step ${r.violation.step} (${describeVcpuStep(r.violation.at)}): ${r.violation.message}\n${trace.join('\n')}`);
        }
      }
      const per100 = (e: string): number => Math.round(((stats.events.get(e) ?? 0) * 100) / runs);
      const floors = hartsFloors(name);
      figures.push(`  ${harts} harts ${name}: ${stats.steps} steps; ${HARTS_SHOWN_EVENTS.map((e) => `${e} ${per100(e)}`).join(', ')}`);
      for (const [e, floor] of Object.entries(floors)) expect(per100(e), `${e} per 100 programs (${name}, ${harts} harts)`).toBeGreaterThanOrEqual(floor);
    });
    test(`${name}: a well-behaved guest (TLB shootdowns, one ASID per root) is offered one outcome per access on every hart`, () => {
      const stats: HartsStats = emptyHartsStats();
      for (const [k, p] of wellBehaved.entries()) {
        const r = runHartsProgram(VCPU_MODELS[name], p, { ad: k % 2 === 0 ? 'svade' : 'svadu' });
        addHartsStats(stats, r.stats);
        if (r.violation !== null) throw new Error(`${name}, ${harts} harts, well-behaved program ${k}: ${r.violation.check} fails at step ${r.violation.step} (${describeVcpuStep(r.violation.at)}): ${r.violation.message}`);
      }
      const per100 = (e: string): number => Math.round(((stats.events.get(e) ?? 0) * 100) / WELL_BEHAVED_RUNS);
      figures.push(`  ${harts} harts ${name}, well-behaved: ${stats.steps} steps; deterministic-access ${per100('deterministic-access')}, remote-fence ${per100('remote-fence')}, stale-allowed ${per100('stale-allowed')}`);
      for (const [e, floor] of Object.entries(WELL_BEHAVED_FLOORS)) expect(per100(e), `${e} per 100 well-behaved programs (${name}, ${harts} harts)`).toBeGreaterThanOrEqual(floor);
      expect(stats.events.get('stale-allowed') ?? 0, 'a well-behaved guest is never offered a choice').toBe(0);
    });
  }
});

describe('seeded several-hart variants are caught (fixed seed 7, 2 harts, at most 80 programs)', () => {
  const programs = sampleHartsPrograms(2, 80, 7, MAX_COMMANDS);
  for (const v of HART_VARIANTS) {
    test(v.name, () => {
      const k = programs.findIndex((p) => runHartsProgram(v.machine, p).violation !== null);
      expect(k, `${v.name} is not caught`).toBeGreaterThanOrEqual(0);
      const r = runHartsProgram(v.machine, programs[k] as (typeof programs)[number]);
      expect(v.caughtBy).toContain(r.violation?.check);
    });
  }
});
