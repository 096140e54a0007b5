/**
 * Every seeded-bug variant is caught, within the default budget, by each of the
 * properties its registry entry names (a variant no property can catch is not a bug).
 */
import { expect, test } from 'vitest';
import { VARIANTS } from '../model/variants.ts';
import { PROPERTIES } from './catalogue.ts';
import { DEFAULT_BUDGET, checkProperty } from './suite.ts';

const pairs = VARIANTS.flatMap((v) => v.caughtBy.map((p) => [`${v.name} by ${p}`, v, p] as const));

test.each(pairs)('%s', (_name, variant, property) => {
  const spec = PROPERTIES.find((p) => p.name === property);
  if (spec === undefined) throw new Error(`${variant.name} names unknown property ${property}`);
  // A fixed seed: this is a statement about the registry, not a search.
  const r = checkProperty(spec, variant.machine, { ...DEFAULT_BUDGET, seed: 1 });
  expect(r.verdict).toBe('fail');
});
