/**
 * One exhaustive search of `npm run exhaustive` (properties/exhaustive.ts): a
 * configuration and depth, on a model or on a seeded-bug variant in its place,
 * optionally one shard of it. Plain data in and out, so that it runs the same in
 * the main thread and in a worker (cli/pool.ts).
 */
import { type AnyMachine, type MachineEvent, type ModelName } from '../model/machine.ts';
import { MODELS } from '../model/models.ts';
import { findVariant } from '../model/variants.ts';
import { type PropertyName, propertiesFor } from '../properties/catalogue.ts';
import { type DepthFigures, type Shard, exhaustiveSearch } from '../properties/exhaustive.ts';
import { findConfig } from '../properties/exhaustive-configs.ts';

export interface SearchTask {
  readonly config: string;
  readonly depth: number;
  readonly model: ModelName;
  /** A seeded-bug variant searched in place of the model, or null. */
  readonly variant: string | null;
  readonly shard: Shard | null;
  /** Stop after this many seconds (null: search the whole depth). */
  readonly seconds: number | null;
}

/** What every search reports, one hart or several: how far it got, what it ran, what it saw. */
export interface SearchFigures {
  readonly depthCompleted: number;
  readonly transitions: number;
  readonly distinct: number;
  readonly seconds: number;
  /** Events and commands over every step the search ran. */
  readonly events: Readonly<Record<string, number>>;
  readonly commands: Readonly<Record<string, number>>;
}

export interface SearchOutcome extends SearchFigures {
  readonly task: SearchTask;
  readonly perDepth: readonly DepthFigures[];
  readonly failure: { readonly property: PropertyName; readonly step: number; readonly message: string; readonly events: readonly MachineEvent[] } | null;
}


/** The machine a task searches: its variant's, or its model. */
export function machineOf(task: SearchTask): AnyMachine {
  if (task.variant === null) return MODELS[task.model];
  const v = findVariant(task.variant);
  if (v === undefined) throw new Error(`unknown variant ${task.variant}`);
  return v.machine;
}

export function runSearch(task: SearchTask): SearchOutcome {
  const config = findConfig(task.config);
  if (config === undefined) throw new Error(`unknown configuration ${task.config}`);
  const r = exhaustiveSearch({
    config, depth: task.depth, machine: machineOf(task), properties: propertiesFor(task.model), ...(task.shard === null ? {} : { shard: task.shard }), ...(task.seconds === null ? {} : { seconds: task.seconds }),
  });
  return {
    task,
    depthCompleted: r.depthCompleted,
    transitions: r.transitions,
    distinct: r.distinct,
    seconds: r.seconds,
    perDepth: r.perDepth,
    events: Object.fromEntries(r.stats.events),
    commands: Object.fromEntries(r.stats.commands),
    failure: r.failure === null ? null : {
      property: r.failure.violation.property, step: r.failure.violation.step, message: r.failure.violation.message, events: r.failure.events,
    },
  };
}
