/**
 * Run one property against one machine with fast-check: random programs, the
 * per-step checks of run.ts, shrinking on failure, event floors after success.
 * Used by `npm start` (cli/main.ts) and by the vitest suite.
 */
import fc from 'fast-check';
import type { AnyMachine, MachineEvent } from '../model/machine.ts';
import type { PropertySpec } from './catalogue.ts';
import { type Command, type GuestKind, programArb, resolveProgram } from './commands.ts';
import { type EventName, type RunStats, type Violation, addStats, emptyStats, runProgram } from './run.ts';

export interface Budget {
  /** Programs per property and model. */
  readonly runs: number;
  /** Commands per program at most. */
  readonly maxCommands: number;
  readonly seed: number;
}

export const DEFAULT_BUDGET: Omit<Budget, 'seed'> = { runs: 1000, maxCommands: 50 };

export interface FloorMiss {
  readonly event: EventName;
  readonly per100: number;
  readonly floor: number;
}

export interface Counterexample {
  readonly guest: GuestKind;
  readonly program: readonly Command[];
  readonly events: readonly MachineEvent[];
  readonly violation: Violation;
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

export function checkProperty(spec: PropertySpec, machine: AnyMachine, budget: Budget): PropertyResult {
  const checks = new Set([spec.name]);
  const stats = emptyStats();
  let runs = 0;
  let failed = false;
  const programsOf = (guest: GuestKind) => programArb(guest, budget.maxCommands).map((program) => ({ guest, program }));
  const arb = spec.guests === 'both' ? fc.oneof(programsOf('well-behaved'), programsOf('arbitrary')) : programsOf('arbitrary');
  const started = performance.now();
  const details = fc.check(
    fc.property(arb, ({ guest, program }) => {
      const r = runProgram(machine, resolveProgram(program, guest), { checks, guest });
      if (!failed) {
        runs++;
        addStats(stats, r.stats);
      }
      if (r.violation !== null) failed = true;
      return r.violation === null;
    }),
    { numRuns: budget.runs, seed: budget.seed },
  );
  const seconds = (performance.now() - started) / 1000;
  let counterexample: Counterexample | null = null;
  if (details.failed && details.counterexample !== null) {
    const [{ guest, program: shrunk }] = details.counterexample;
    const violationOf = (p: readonly Command[]) => runProgram(machine, resolveProgram(p, guest), { checks, guest }).violation;
    const program = minimize(shrunk, (p) => violationOf(p) !== null);
    // Then at the level of resolved steps, which is what a counterexample file keeps.
    const stepViolation = (es: readonly MachineEvent[]) => runProgram(machine, es, { checks, guest }).violation;
    const first = stepViolation(resolveProgram(program, guest));
    if (first === null) throw new Error(`the shrunk counterexample of ${spec.name} on ${machine.name} does not reproduce`);
    const events = minimize(resolveProgram(program, guest).slice(0, first.step + 1), (es) => stepViolation(es) !== null);
    const violation = stepViolation(events);
    if (violation === null) throw new Error(`the minimized counterexample of ${spec.name} on ${machine.name} does not reproduce`);
    counterexample = { guest, program, events: events.slice(0, violation.step + 1), violation };
  }
  const floorMisses: FloorMiss[] = [];
  if (!details.failed) {
    for (const [event, floor] of Object.entries(spec.floors(machine.name)) as [EventName, number][]) {
      const per100 = ((stats.events.get(event) ?? 0) * 100) / Math.max(1, runs);
      if (per100 < floor) floorMisses.push({ event, per100, floor });
    }
  }
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
 * After fast-check's shrinking: drop single commands while the program still
 * fails, until no single command can go (a 1-minimal program).
 */
export function minimize<T>(items: readonly T[], fails: (xs: readonly T[]) => boolean): readonly T[] {
  let current = items;
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = current.length - 1; i >= 0; i--) {
      const candidate = [...current.slice(0, i), ...current.slice(i + 1)];
      if (candidate.length > 0 && fails(candidate)) {
        current = candidate;
        changed = true;
      }
    }
  }
  return current;
}
