/**
 * The scenario categories the conformance run mixes, each with its generator and
 * its check against the reference. A deliberately wrong reference (a mutation)
 * can be substituted to show that the run catches it.
 */
import fc from 'fast-check';
import type { OpResult, Scenario } from './protocol.ts';
import { type Disagreement, type Sv39Scenario, checkSv39, sv39ScenarioArb } from './sv39.ts';

/** Deliberately wrong references, to show the conformance run catches them. */
export const MUTATIONS = ['ignore-mxr', 'ignore-sum', 'no-hardware-ad'] as const;
export type Mutation = (typeof MUTATIONS)[number];

export interface Generated {
  readonly category: string;
  readonly scenario: Scenario;
  readonly check: (results: readonly OpResult[], mutation: Mutation | null) => Disagreement | null;
  readonly data: unknown;
}

export interface Category {
  readonly name: string;
  readonly weight: number;
  readonly arb: fc.Arbitrary<Generated>;
}

const sv39: Category = {
  name: 'sv39',
  weight: 1,
  arb: sv39ScenarioArb().map((sc: Sv39Scenario): Generated => ({
    category: 'sv39',
    scenario: sc.scenario,
    data: sc,
    check: (results, mutation) => checkSv39(mutate(sc, mutation), results, mutation),
  })),
};

function mutate(sc: Sv39Scenario, m: Mutation | null): Sv39Scenario {
  if (m === 'ignore-mxr') return { ...sc, mxr: false };
  if (m === 'ignore-sum') return { ...sc, sum: false };
  return sc;
}

export const CATEGORIES: readonly Category[] = [sv39];

export function scenarioArb(categories: readonly Category[]): fc.Arbitrary<Generated> {
  return fc.oneof(...categories.map((c) => ({ arbitrary: c.arb, weight: c.weight })));
}
