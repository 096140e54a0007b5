/**
 * What a property is: a name, its statement in one sentence, the models and
 * guests it is checked on, the floors its generator must reach, and a pure check
 * over step records. The check is a fold, so that a property can remember what it
 * needs across steps: `start` gives the state before the first step, `step`
 * judges one record and gives the state after it, or the violation.
 */
import type { Memory } from '../spec/memory.ts';
import type { AnyMachine, ModelName } from '../model/machine.ts';
import type { GuestKind } from './commands.ts';
import type { Floors } from './floors.ts';
import type { StepRecord } from './record.ts';

/** What a run gives a property before its first step. */
export interface RunContext {
  readonly machine: AnyMachine;
  readonly guest: GuestKind;
  readonly initialMemory: Memory;
}

/** A property's judgement of one step: its state after the step, or what is wrong. */
export type Verdict<S> = { readonly state: S } | { readonly violation: string };

export interface Property<Name extends string, S> {
  readonly name: Name;
  /** The property in one sentence (`npm start -- --list` prints it). */
  readonly sentence: string;
  readonly models: readonly ModelName[];
  /** Arbitrary guests only, or well-behaved and arbitrary guests alternately. */
  readonly guests: 'arbitrary' | 'both';
  /** Events per 100 programs below which a passing run is vacuous. */
  readonly floors: (model: ModelName) => Floors;
  /** What it judges, which says how a run with several harts checks it (`Scope`). */
  readonly scope: Scope;
  readonly start: (run: RunContext) => S;
  readonly step: (state: S, record: StepRecord) => Verdict<S>;
  /**
   * The part of the state later verdicts depend on, where the state also keeps
   * shortcuts (the exhaustive search merges runs whose keys are equal); the whole
   * state if absent.
   */
  readonly key?: (state: S) => unknown;
}

/** What a state invariant reads of a step record: the machine, its state after the step, the reference after it. */
export type StateRecord = Pick<StepRecord, 'machine' | 'after' | 'refAfter'>;

/**
 * What a property judges. A one-hart run hands every property every step record;
 * a run with several harts (properties/harts-run.ts) hands each property the records
 * of one hart at a time, as the scope says:
 *
 * - `step`: what a guest instruction or host event did, on the hart that made it;
 * - `state`: an invariant of the machine's state after a step, judged on every
 *   hart's view of it after every step (SBI calls included), since a step of one
 *   hart changes what the others share (`check` reads nothing else of a record);
 * - `hardware`: the hart's own translations and fences (`StepResult.hart`), folded
 *   per hart over everything that hart's hardware did: its own steps, its part of
 *   an SBI remote fence, and the fences an IPI ran on it for another hart's step.
 */
export type Scope =
  | { readonly kind: 'step' }
  | { readonly kind: 'state'; readonly check: (record: StateRecord) => string | null }
  | { readonly kind: 'hardware' };

export const STEP_SCOPE: Scope = { kind: 'step' };
export const HARDWARE_SCOPE: Scope = { kind: 'hardware' };

/** A property as the catalogue and the runner hold it: its state type hidden, as AnyMachine hides a machine's. */
export type AnyProperty<Name extends string = string> = Property<Name, unknown>;

/** Sound because the runner only ever hands `step` a state that this property's own `start` or `step` made. */
export const property = <const Name extends string, S>(p: Property<Name, S>): AnyProperty<Name> => p as unknown as AnyProperty<Name>;

const HOLDS: Verdict<null> = { state: null };

/** The fold of a property that remembers nothing: one check per record, null when the step is fine. */
export function everyStep(check: (record: StepRecord) => string | null): Pick<Property<string, null>, 'start' | 'step' | 'scope'> {
  return {
    scope: STEP_SCOPE,
    start: () => null,
    step: (_state, record) => {
      const violation = check(record);
      return violation === null ? HOLDS : { violation };
    },
  };
}

/** A state invariant (scope `state`): the same check after every step, on one hart's view or, with several harts, each hart's. */
export function everyState(check: (record: StateRecord) => string | null): Pick<Property<string, null>, 'start' | 'step' | 'scope'> {
  return { ...everyStep(check), scope: { kind: 'state', check } };
}

export const ALL_MODELS: readonly ModelName[] = ['npt', 'tsp', 'ssp'];
export const SHADOW_MODELS: readonly ModelName[] = ['tsp', 'ssp'];
