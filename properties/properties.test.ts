/**
 * Every property of properties/catalogue.ts holds on every model it applies to,
 * with its event floors met; and the seeded SSP sync bug is caught.
 */
import { describe, expect, test } from 'vitest';
import { npt } from '../model/npt.ts';
import { tsp } from '../model/tsp.ts';
import { ssp } from '../model/ssp.ts';
import { erase } from '../model/machine.ts';
import { findVariant } from '../model/variants.ts';
import { PROPERTIES } from './catalogue.ts';
import { checkProperty, minimize } from './suite.ts';
import { testBudget } from './test-budget.ts';

const budget = testBudget('properties/properties.test.ts');
const machines = [erase(npt), erase(tsp), erase(ssp)];

describe.each(PROPERTIES.map((p) => [p.name, p] as const))('%s', (_name, spec) => {
  test.each(machines.filter((m) => spec.models.includes(m.name)).map((m) => [m.name, m] as const))('holds on %s', (_m, machine) => {
    const r = checkProperty(spec, machine, budget);
    const why = r.counterexample?.violation.message ?? r.floorMisses.map((f) => `${f.event} ${f.per100.toFixed(1)} < ${f.floor}`).join(', ');
    expect(r.verdict, why).toBe('pass');
  });
});

test('a seeded SSP that skips the sync on address-specific fences fails refinement with a short program', () => {
  const variant = findVariant('ssp-no-sync-on-va-fence');
  if (variant === undefined) throw new Error('variant missing');
  const spec = PROPERTIES.find((p) => p.name === 'refinement');
  if (spec === undefined) throw new Error('property missing');
  const r = checkProperty(spec, variant.machine, { ...budget, runs: 1000 });
  expect(r.verdict).toBe('fail');
  expect(r.counterexample?.events.length).toBeLessThanOrEqual(8);
});

test('minimize leaves no removable item', () => {
  const fails = (xs: readonly number[]) => xs.includes(3) && xs.includes(7);
  expect(minimize([1, 3, 5, 7, 9], fails)).toEqual([3, 7]);
});
