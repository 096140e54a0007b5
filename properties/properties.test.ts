/**
 * Every property of properties/catalogue.ts holds on every model it applies to,
 * with its event floors met (checked together per model, as `npm start` does:
 * properties/suite.ts `checkProperties` gives each the result it would get alone);
 * and the seeded SSP sync bug is caught.
 */
import { describe, expect, test } from 'vitest';
import { npt } from '../model/npt.ts';
import { tsp } from '../model/tsp.ts';
import { ssp } from '../model/ssp.ts';
import { type AnyMachine, erase } from '../model/machine.ts';
import { findVariant } from '../model/variants.ts';
import { PROPERTIES, type PropertySpec, propertiesFor } from './catalogue.ts';
import { type PropertyResult, checkProperties, checkProperty, minimize } from './suite.ts';
import { testBudget } from './test-budget.ts';

const budget = testBudget('properties/properties.test.ts');
const machines = [erase(npt), erase(tsp), erase(ssp)];

/** Each model's properties, checked together as `npm start` checks them (one pass per guest kind when none fails), once. */
const checked = new Map<AnyMachine, PropertyResult[]>();
const resultOf = (spec: PropertySpec, machine: AnyMachine): PropertyResult => {
  if (!checked.has(machine)) checked.set(machine, checkProperties(propertiesFor(machine.name), machine, budget));
  const r = checked.get(machine)?.find((x) => x.property === spec);
  if (r === undefined) throw new Error(`${spec.name} was not checked on ${machine.name}`);
  return r;
};

describe.each(PROPERTIES.map((p) => [p.name, p] as const))('%s', (_name, spec) => {
  test.each(machines.filter((m) => spec.models.includes(m.name)).map((m) => [m.name, m] as const))('holds on %s', (_m, machine) => {
    const r = resultOf(spec, machine);
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

test('checking properties together gives each the result it gets alone, and falls back to one by one when a program fails', () => {
  // A fixed seed: the variant must fail within these programs (it does at this seed), whatever SSP_SPEC_SEED says.
  const small = { runs: 20, maxCommands: 50, seed: 20261201 };
  const summary = (r: PropertyResult) => ({
    property: r.property.name, verdict: r.verdict, runs: r.runs, steps: r.stats.steps, events: [...r.stats.events].sort(),
    commands: [...r.stats.commands].sort(), coverage: [...r.stats.coverage].sort(), misses: r.floorMisses, counterexample: r.counterexample?.events.length ?? null,
  });
  const specs = propertiesFor('ssp');
  expect(checkProperties(specs, erase(ssp), small).map(summary)).toEqual(specs.map((spec) => checkProperty(spec, erase(ssp), small)).map(summary));
  const variant = findVariant('tsp-writable-before-dirty');
  if (variant === undefined) throw new Error('variant missing');
  const two = PROPERTIES.filter((p) => p.name === 'no-lost-dirty' || p.name === 'transparency');
  const verdicts = checkProperties(two, variant.machine, small, { correct: erase(tsp) }).map((r) => [r.property.name, r.verdict, r.counterexample !== null]);
  expect(verdicts).toEqual([['transparency', 'pass', false], ['no-lost-dirty', 'fail', true]]);
});
