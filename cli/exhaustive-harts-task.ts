/**
 * One several-hart exhaustive search of `npm run exhaustive -- --harts N`
 * (properties/exhaustive-harts.ts): a configuration, hart count and depth, on a
 * model or on a several-hart variant in its place. Plain data in and out, so that
 * it runs the same in the main thread and in a worker (cli/pool.ts).
 */
import type { ModelName } from '../model/machine.ts';
import { findHartVariant } from '../model/vcpu-variants.ts';
import { type AnyVcpuMachine, VCPU_MODELS, type VcpuStep } from '../model/vcpus.ts';
import { findConfig } from '../properties/exhaustive-configs.ts';
import { exhaustiveHartsSearch } from '../properties/exhaustive-harts.ts';
import { type HartsCheckName, runHartsProgram } from '../properties/harts-run.ts';
import type { SearchFigures } from './exhaustive-task.ts';

export interface HartsSearchTask {
  readonly config: string;
  readonly harts: number;
  readonly depth: number;
  readonly model: ModelName;
  /** A several-hart variant searched in place of the model, or null. */
  readonly variant: string | null;
}

export interface HartsSearchOutcome extends SearchFigures {
  readonly task: HartsSearchTask;
  readonly failure: { readonly check: HartsCheckName; readonly step: number; readonly message: string; readonly steps: readonly VcpuStep[] } | null;
}

/** The machine a task searches: its variant's, or its model. */
export function hartsMachineOf(task: HartsSearchTask): AnyVcpuMachine {
  if (task.variant === null) return VCPU_MODELS[task.model];
  const v = findHartVariant(task.variant);
  if (v === undefined) throw new Error(`unknown several-hart variant ${task.variant}`);
  return v.machine;
}

export function runHartsSearch(task: HartsSearchTask): HartsSearchOutcome {
  const config = findConfig(task.config);
  if (config === undefined) throw new Error(`unknown configuration ${task.config}`);
  const correct = VCPU_MODELS[task.model];
  const run = { ad: config.ad ?? 'svade', universe: config.universe } as const;
  const r = exhaustiveHartsSearch({
    config, harts: task.harts, depth: task.depth, machine: hartsMachineOf(task),
    // A variant's failure counts only where the correct model passes the same program.
    ...(task.variant === null ? {} : { accept: (steps: readonly VcpuStep[]) => runHartsProgram(correct, { harts: task.harts, steps }, run).violation === null }),
  });
  return {
    task, depthCompleted: r.depthCompleted, transitions: r.transitions, distinct: r.distinct, seconds: r.seconds,
    events: Object.fromEntries(r.stats.events), commands: Object.fromEntries(r.stats.commands),
    failure: r.failure === null ? null : { check: r.failure.violation.check, step: r.failure.violation.step, message: r.failure.violation.message, steps: r.failure.steps },
  };
}
