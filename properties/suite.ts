/**
 * Run one property against one machine with fast-check: random programs run in
 * lockstep by run.ts, minimisation on failure, event floors after success.
 * Used by `npm start` (cli/main.ts) and by the vitest suite.
 */
import fc from 'fast-check';
import type { AnyMachine, MachineEvent } from '../model/machine.ts';
import type { PropertySpec } from './catalogue.ts';
import { type Command, type GuestKind, programArb, resolveProgram } from './commands.ts';
import { exhaustiveSearch } from './exhaustive.ts';
import { AD_MODES, type AdMode, VAS } from './pools.ts';
import { type RunStats, type StatName, type Violation, addStats, describeEvent, emptyStats, runProgram, statCount } from './run.ts';

export interface Budget {
  /** Programs per property and model. */
  readonly runs: number;
  /** Commands per program at most. */
  readonly maxCommands: number;
  readonly seed: number;
}

export const DEFAULT_BUDGET: Omit<Budget, 'seed'> = { runs: 1000, maxCommands: 50 };

export interface FloorMiss {
  readonly event: StatName;
  readonly per100: number;
  readonly floor: number;
}

export interface Counterexample {
  readonly guest: GuestKind;
  /** Svade or Svadu: the configuration the steps ran under. */
  readonly ad: AdMode;
  /**
   * The generated commands the steps are the resolution of (up to the failing step),
   * or null when the steps were minimised one by one below the commands (arbitrary
   * guests only): then the steps are the program.
   */
  readonly program: readonly Command[] | null;
  /** The steps that ran, the last one failing. */
  readonly events: readonly MachineEvent[];
  readonly violation: Violation;
  /**
   * The machine the steps fail on: the one checked, or, when the steps fail on the
   * correct model too, that model (the evidence is then about it, not the variant).
   */
  readonly failsOn: AnyMachine;
}

export interface CheckOptions {
  /**
   * For a seeded-bug variant, the correct model it breaks: a counterexample is kept
   * only as a program that fails on the variant and passes on this model, so that
   * the evidence never blames the variant for what the model does too.
   */
  readonly correct?: AnyMachine;
  /**
   * Shorten the 1-minimal counterexample further by a bounded exhaustive search over its
   * own steps (`shortestOver`; default true). Off where only the verdict and the honesty
   * of the evidence matter, not its last step of length.
   */
  readonly polish?: boolean;
}

export interface PropertyResult {
  readonly property: PropertySpec;
  readonly model: string;
  readonly verdict: 'pass' | 'fail' | 'vacuous';
  readonly runs: number;
  readonly stats: RunStats;
  readonly seconds: number;
  readonly seed: number;
  readonly path: string | null;
  readonly counterexample: Counterexample | null;
  readonly floorMisses: readonly FloorMiss[];
}

export function checkProperty(spec: PropertySpec, machine: AnyMachine, budget: Budget, options: CheckOptions = {}): PropertyResult {
  const properties = [spec];
  const stats = emptyStats();
  let runs = 0;
  let failed = false;
  const arb = programsArb(spec.guests, budget);
  const started = performance.now();
  const details = fc.check(
    fc.property(arb, ({ guest, program, ad }) => {
      const r = runProgram(machine, resolveProgram(program, guest), { properties, guest, ad });
      if (!failed) {
        runs++;
        addStats(stats, r.stats);
      }
      if (r.violation !== null) failed = true;
      return r.violation === null;
    }),
    // No shrinking by fast-check: it reruns hundreds of variations of a 50-command program, most of the cost of a
    // failing check; the minimiser below removes whole chunks of commands and steps instead (as delta debugging does).
    { numRuns: budget.runs, seed: budget.seed | 0, endOnFailure: true },
  );
  const seconds = (performance.now() - started) / 1000;
  let counterexample: Counterexample | null = null;
  if (details.failed && details.counterexample !== null) {
    const [{ guest, program, ad }] = details.counterexample;
    counterexample = minimalCounterexample(spec, machine, guest, ad, program, options.correct, options.polish ?? true);
  }
  const floorMisses = details.failed ? [] : floorMissesOf(spec, machine, stats, runs);
  return {
    property: spec,
    model: machine.name,
    verdict: details.failed ? 'fail' : floorMisses.length > 0 ? 'vacuous' : 'pass',
    runs,
    stats,
    seconds,
    seed: budget.seed,
    path: details.failed ? details.counterexamplePath : null,
    counterexample,
    floorMisses,
  };
}

/**
 * Several properties against one machine, with the results `checkProperty` gives for
 * each, in one lockstep pass per program where it can. Every property that draws the
 * same kind of guest draws the same programs (one arbitrary, one seed), and a run's
 * statistics do not depend on the properties it checks; so when no program fails, one
 * run checking them all gives each property exactly its own result (its programs, its
 * statistics, its floors), and the machine and the reference step once instead of once
 * per property. A pass's seconds are shared by its properties. When a program fails,
 * the pass proves nothing about the properties checked after the failing one on that
 * program, so each property of that pass is checked on its own, as `checkProperty` does.
 */
export function checkProperties(specs: readonly PropertySpec[], machine: AnyMachine, budget: Budget, options: CheckOptions = {}): PropertyResult[] {
  const groups = new Map<PropertySpec['guests'], PropertySpec[]>();
  for (const spec of specs) groups.set(spec.guests, [...(groups.get(spec.guests) ?? []), spec]);
  const results = new Map<PropertySpec, PropertyResult>();
  for (const [guests, group] of groups) {
    const together = group.length > 1 ? checkTogether(group, guests, machine, budget) : null;
    for (const spec of group) results.set(spec, together?.get(spec) ?? checkProperty(spec, machine, budget, options));
  }
  return specs.map((spec) => results.get(spec) as PropertyResult);
}

/** One pass over the programs with every property of `group` checked; null if a program failed. */
function checkTogether(group: readonly PropertySpec[], guests: PropertySpec['guests'], machine: AnyMachine, budget: Budget): Map<PropertySpec, PropertyResult> | null {
  const stats = emptyStats();
  let runs = 0;
  const started = performance.now();
  const details = fc.check(
    fc.property(programsArb(guests, budget), ({ guest, program, ad }) => {
      const r = runProgram(machine, resolveProgram(program, guest), { properties: group, guest, ad });
      if (r.violation !== null) return false;
      runs++;
      addStats(stats, r.stats);
      return true;
    }),
    { numRuns: budget.runs, seed: budget.seed | 0, endOnFailure: true },
  );
  if (details.failed) return null;
  const seconds = (performance.now() - started) / 1000;
  return new Map(group.map((spec) => {
    const floorMisses = floorMissesOf(spec, machine, stats, runs);
    const verdict = floorMisses.length > 0 ? 'vacuous' as const : 'pass' as const;
    return [spec, { property: spec, model: machine.name, verdict, runs, stats, seconds, seed: budget.seed, path: null, counterexample: null, floorMisses }];
  }));
}

/** The programs a property of this guest kind draws: half Svade, half Svadu. */
function programsArb(guests: PropertySpec['guests'], budget: Budget) {
  // Half the programs run a Svade guest, half a Svadu one (decision 0013): every property holds under both.
  const programsOf = (guest: GuestKind) =>
    fc.tuple(programArb(guest, budget.maxCommands), fc.constantFrom(...AD_MODES)).map(([program, ad]) => ({ guest, program, ad }));
  return guests === 'both' ? fc.oneof(programsOf('well-behaved'), programsOf('arbitrary')) : programsOf('arbitrary');
}

/** The floors of `spec` this run's statistics fall below. */
function floorMissesOf(spec: PropertySpec, machine: AnyMachine, stats: RunStats, runs: number): FloorMiss[] {
  const misses: FloorMiss[] = [];
  for (const [event, floor] of Object.entries(spec.floors(machine.name)) as [StatName, number][]) {
    const per100 = (statCount(stats, event) * 100) / Math.max(1, runs);
    if (per100 < floor) misses.push({ event, per100, floor });
  }
  return misses;
}

/**
 * From the first failing program fast-check generated to the evidence a file keeps: 1-minimal, and
 * honest. Removing a step must not change what the program is: a well-behaved
 * guest's program is minimised by whole commands only (each still resolves to
 * eager fences), an arbitrary guest's also step by step. Every candidate must fail
 * on the machine and, for a variant, pass on the correct model.
 */
function minimalCounterexample(
  spec: PropertySpec, machine: AnyMachine, guest: GuestKind, ad: AdMode, found: readonly Command[], correct: AnyMachine | undefined, polish: boolean,
): Counterexample {
  const properties = [spec];
  const violationOn = (m: AnyMachine, es: readonly MachineEvent[]) => runProgram(m, es, { properties, guest, ad }).violation;
  // A variant's counterexample must pass on the model it breaks; if the program fails there too, the evidence is about the model.
  const againstCorrect = correct !== undefined && correct !== machine && violationOn(correct, resolveProgram(found, guest)) === null;
  const failsOn = correct !== undefined && !againstCorrect ? correct : machine;
  const honest = (es: readonly MachineEvent[]) =>
    violationOn(failsOn, es) !== null && (!againstCorrect || correct === undefined || violationOn(correct, es) === null);
  const program = minimize(failingPrefix(found, guest, (es) => violationOn(failsOn, es)), (p) => honest(resolveProgram(p, guest)));
  let events: readonly MachineEvent[] = resolveProgram(program, guest);
  let exact = true;
  const first = violationOn(failsOn, events);
  if (first === null || !honest(events)) throw new Error(`the counterexample of ${spec.name} on ${machine.name} does not reproduce`);
  // The run stops at the failing step: what a program would do after it is not evidence.
  const prefix = events.slice(0, first.step + 1);
  if (prefix.length < events.length && honest(prefix)) events = prefix;
  if (guest === 'arbitrary') {
    const minimal = minimize(events, honest);
    const fewer = polish ? shortestOver(minimal, spec, failsOn, ad, honest) : minimal;
    if (fewer.length < events.length) {
      events = fewer;
      exact = false;
    }
  }
  const violation = violationOn(failsOn, events);
  if (violation === null) throw new Error(`the minimized counterexample of ${spec.name} on ${machine.name} does not reproduce`);
  return { guest, ad, program: exact ? program : null, events, violation, failsOn };
}

/** Steps the exhaustive search may spend shortening one counterexample (about a second). */
export const POLISH_STEPS = 2500;

/**
 * A 1-minimal program may still have a shorter one made of the same steps in another order or
 * number: search every program over its distinct steps, shortest first (properties/exhaustive.ts),
 * within POLISH_STEPS steps, and keep a shorter honest one if there is one.
 */
function shortestOver(events: readonly MachineEvent[], spec: PropertySpec, machine: AnyMachine, ad: AdMode, honest: (es: readonly MachineEvent[]) => boolean): readonly MachineEvent[] {
  if (events.length <= 2) return events;
  const alphabet = [...new Map(events.map((e) => [describeEvent(e), e])).values()];
  const r = exhaustiveSearch({
    config: { name: 'counterexample', description: 'the steps of one counterexample', universe: VAS, alphabet, ad },
    depth: events.length - 1, machine, properties: [spec], maxTransitions: POLISH_STEPS, accept: honest,
  });
  return r.failure === null ? events : r.failure.events;
}

/** Drop items while the list still fails, until no single item can go (a 1-minimal list). */
export function minimize<T>(items: readonly T[], fails: (xs: readonly T[]) => boolean): readonly T[] {
  let current = items;
  // Whole chunks first (halves, quarters, ...), then single items until none can go: delta debugging's order, with
  // far fewer runs than removing one item at a time from a long program.
  for (let size = Math.max(1, current.length >> 1); ; size = Math.max(1, size >> 1)) {
    let changed = false;
    for (let i = current.length - size; i >= 0; i -= size) {
      const candidate = [...current.slice(0, i), ...current.slice(i + size)];
      if (candidate.length > 0 && fails(candidate)) {
        current = candidate;
        changed = true;
      }
    }
    if (size === 1 && !changed) return current;
  }
}

/** The commands of `program` up to the one whose steps include the failing step: what comes after is not evidence. */
function failingPrefix(program: readonly Command[], guest: GuestKind, violation: (es: readonly MachineEvent[]) => Violation | null): readonly Command[] {
  const v = violation(resolveProgram(program, guest));
  if (v === null) return program;
  for (let n = 1; n <= program.length; n++) {
    if (resolveProgram(program.slice(0, n), guest).length > v.step) return program.slice(0, n);
  }
  return program;
}
