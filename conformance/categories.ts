/**
 * The scenario categories the conformance run mixes, each with its generator and
 * its check against the reference. A deliberately wrong reference (a mutation)
 * can be substituted to show that the run catches it.
 */
import fc from 'fast-check';
import type { InstructionTvalConfig } from '../spec/privilege.ts';
import type { DeviationId } from './deviations.ts';
import type { OpResult, Scenario } from './protocol.ts';
import { checkRouting, routingScenarioArb } from './routing.ts';
import { type Sv39Scenario, checkSv39, sv39ScenarioArb } from './sv39.ts';
import { checkTwoStage, twoStageScenarioArb } from './two-stage.ts';

/** Deliberately wrong references, to show the conformance run catches them. */
export const MUTATIONS = ['ignore-mxr', 'ignore-sum', 'no-hardware-ad', 'instruction-tval-zero'] as const;
export type Mutation = (typeof MUTATIONS)[number];

/** How QEMU 7.2 configures the freedoms the spec leaves (measured, conformance/README.md). */
export const QEMU_TVAL: InstructionTvalConfig = 'instruction-bits';

/** A difference between QEMU and the reference at one operation; `explainedBy` names the documented QEMU deviations that predict it (none: unexplained). */
export interface Verdict {
  readonly op: number;
  readonly message: string;
  readonly explainedBy: readonly DeviationId[];
}

export interface Generated {
  readonly category: string;
  readonly scenario: Scenario;
  readonly check: (results: readonly OpResult[], mutation: Mutation | null) => readonly Verdict[];
}

export interface Category {
  readonly name: string;
  readonly weight: number;
  readonly arb: fc.Arbitrary<Generated>;
}

function mutate(sc: Sv39Scenario, m: Mutation | null): Sv39Scenario {
  if (m === 'ignore-mxr') return { ...sc, mxr: false };
  if (m === 'ignore-sum') return { ...sc, sum: false };
  return sc;
}

export const CATEGORIES: readonly Category[] = [
  {
    name: 'sv39',
    weight: 5,
    arb: sv39ScenarioArb().map((sc): Generated => ({
      category: 'sv39',
      scenario: sc.scenario,
      check: (results, mutation) => {
        const d = checkSv39(mutate(sc, mutation), results, mutation);
        return d === null ? [] : [d];
      },
    })),
  },
  {
    name: 'two-stage',
    weight: 4,
    arb: twoStageScenarioArb().map((sc): Generated => ({
      category: 'two-stage',
      scenario: sc.scenario,
      check: (results, mutation) => {
        const v = checkTwoStage(mutation === 'ignore-mxr' ? { ...sc, vsMxr: false, mstatusMxr: false } : sc, results);
        return v === null ? [] : [v];
      },
    })),
  },
  {
    name: 'routing',
    weight: 2,
    arb: routingScenarioArb().map((sc): Generated => ({
      category: 'routing',
      scenario: sc.scenario,
      check: (results, mutation) => checkRouting(sc, results, mutation === 'instruction-tval-zero' ? 'zero' : QEMU_TVAL),
    })),
  },
];

export function scenarioArb(categories: readonly Category[]): fc.Arbitrary<Generated> {
  return fc.oneof(...categories.map((c) => ({ arbitrary: c.arb, weight: c.weight })));
}
