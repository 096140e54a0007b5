/**
 * The several-hart part of `npm start`: each model (or a several-hart variant in
 * place of its model) with N vCPUs (model/vcpus.ts) against the N-hart reference
 * (spec/harts.ts), in lockstep (properties/harts-run.ts: per-hart refinement with
 * the A/D match, isolation, SBI return values), on random multi-hart programs half
 * of them Svadu, with the floors of properties/harts-run.ts `hartsFloors`.
 */
import fc from 'fast-check';
import type { ModelName } from '../model/machine.ts';
import { type HartVariant } from '../model/vcpu-variants.ts';
import { type AnyVcpuMachine, VCPU_MODELS } from '../model/vcpus.ts';
import { hartsProgramArb, resolveHartsProgram } from '../properties/harts-commands.ts';
import { type HartsStats, type HartsViolation, addHartsStats, describeVcpuStep, emptyHartsStats, hartsFloors, runHartsProgram } from '../properties/harts-run.ts';
import { AD_MODES } from '../properties/pools.ts';

/** Commands per several-hart program at most (as properties/harts.test.ts). */
export const HARTS_MAX_COMMANDS = 30;

export interface HartsCheck {
  readonly model: ModelName;
  /** The model, and the variant run in its place. */
  readonly label: string;
  readonly harts: number;
  readonly verdict: 'pass' | 'fail' | 'vacuous';
  readonly runs: number;
  readonly stats: HartsStats;
  readonly seconds: number;
  readonly floorMisses: readonly { readonly event: string; readonly per100: number; readonly floor: number }[];
  /** The failing program as it ran, one line per step, and what failed. */
  readonly failure: { readonly violation: HartsViolation; readonly trace: readonly string[] } | null;
}

/** `runs` programs of `harts` harts on the machine, stopping at the first failure. */
export function checkHarts(model: ModelName, harts: number, runs: number, seed: number, variant: HartVariant | null): HartsCheck {
  const machine: AnyVcpuMachine = variant?.machine ?? VCPU_MODELS[model];
  const stats = emptyHartsStats();
  let done = 0;
  let failed = false;
  const started = performance.now();
  const arb = fc.tuple(hartsProgramArb(harts, HARTS_MAX_COMMANDS), fc.constantFrom(...AD_MODES));
  // fast-check shrinks a failing program (whole commands, then their arguments); the statistics are those of
  // the programs up to the first failure, as a one-hart check counts them.
  const details = fc.check(
    fc.property(arb, ([commands, ad]) => {
      const r = runHartsProgram(machine, resolveHartsProgram(commands), { ad });
      if (!failed) {
        done++;
        addHartsStats(stats, r.stats);
      }
      if (r.violation !== null) failed = true;
      return r.violation === null;
    }),
    { numRuns: runs, seed: seed | 0 },
  );
  let failure: HartsCheck['failure'] = null;
  if (details.failed && details.counterexample !== null) {
    const [[commands, ad]] = details.counterexample;
    const r = runHartsProgram(machine, resolveHartsProgram(commands), { ad, record: true });
    if (r.violation !== null) failure = { violation: r.violation, trace: r.trace };
  }
  const seconds = (performance.now() - started) / 1000;
  const floorMisses = failure !== null ? [] : Object.entries(hartsFloors(model)).flatMap(([event, floor]) => {
    const per100 = ((stats.events.get(event) ?? 0) * 100) / Math.max(1, done);
    return per100 < floor ? [{ event, per100, floor }] : [];
  });
  return {
    model, label: variant === null ? model : `${model} (${variant.name})`, harts, runs: done, stats, seconds, floorMisses, failure,
    verdict: failure !== null ? 'fail' : floorMisses.length > 0 ? 'vacuous' : 'pass',
  };
}

/** What `npm start` prints after a failing several-hart check. */
export function hartsFailureLines(c: HartsCheck): string[] {
  if (c.failure === null) return [];
  const v = c.failure.violation;
  return [
    `\n${v.check} fails on ${c.label} with ${c.harts} harts at step ${v.step} (${describeVcpuStep(v.at)}): ${v.message}`,
    'the program as it ran (not saved: traces of several harts are not written yet):',
    ...c.failure.trace.map((l) => `  ${l}`),
  ];
}
