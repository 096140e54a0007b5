/**
 * The exhaustive search (properties/exhaustive.ts): its canonical names merge
 * exactly the states they should, merging loses no failure (checked against
 * enumerating every program without merging), the first failure is a shortest
 * one, shards together explore what the whole search does, and at a depth that
 * fits the test budget every property holds on every model with the events the
 * floors ask for.
 */
import { describe, expect, test } from 'vitest';
import { gpa } from '../spec/address.ts';
import { emptyMemory, writeWord } from '../spec/memory.ts';
import type { AnyMachine, MachineEvent } from '../model/machine.ts';
import { findVariant } from '../model/variants.ts';
import { MODELS } from '../model/models.ts';
import { propertiesFor } from './catalogue.ts';
import { canonicaliser } from './canonical.ts';
import { CONFIGS, type ExhaustiveConfig, findConfig } from './exhaustive-configs.ts';
import { MIN_FLOOR_DEPTH, exhaustiveSearch, floorsFor } from './exhaustive.ts';
import { bootMemory, VAS } from './pools.ts';
import { type Lockstep, emptyStats, startLockstep, stepLockstep } from './run.ts';

const config = (name: string): ExhaustiveConfig => {
  const c = findConfig(name);
  if (c === undefined) throw new Error(`no configuration ${name}`);
  return c;
};

describe('canonical names', () => {
  test('a memory is its words, whatever order they were stored in', () => {
    const c = canonicaliser();
    const words: [bigint, bigint][] = [[0x8001_0008n, 1n], [0x8040_0000n, 2n], [0x8001_0010n, 3n], [0x9000_0000n, 4n]];
    const forward = words.reduce((m, [a, v]) => writeWord(m, gpa(a), v), emptyMemory);
    const backward = [...words].reverse().reduce((m, [a, v]) => writeWord(m, gpa(a), v), emptyMemory);
    expect(forward).not.toBe(backward);
    expect(c.name(forward)).toBe(c.name(backward));
    expect(c.name(writeWord(forward, gpa(0x8001_0008n), 5n))).not.toBe(c.name(forward));
    // A word stored and cleared again leaves the memory it was.
    expect(c.name(writeWord(writeWord(forward, gpa(0x8002_0000n), 9n), gpa(0x8002_0000n), 0n))).toBe(c.name(forward));
  });

  test('a saturated cache and a set of numbers are sets; any other map keeps its order', () => {
    const c = canonicaliser();
    const e = (n: number) => [{ tag: n, level: 0, prefix: 1n, pteAddr: 2n, pte: 3n }];
    expect(c.name(new Map([['0:1', e(1)], ['1:0', e(2)]]))).toBe(c.name(new Map([['1:0', e(2)], ['0:1', e(1)]])));
    expect(c.name(new Map([['a', 1], ['b', 2]]))).not.toBe(c.name(new Map([['b', 2], ['a', 1]])));
    expect(c.name(new Set([1n, 2n]))).toBe(c.name(new Set([2n, 1n])));
    expect(c.name([1n, 2n])).not.toBe(c.name([2n, 1n]));
  });

  test('names tell values apart that print alike', () => {
    const c = canonicaliser();
    const values: unknown[] = [1, 1n, '1', true, null, undefined, [], {}, new Map(), new Set(), [1], { a: 1 }, { a: 1n }, { a: undefined }, { b: 1 }, [[1]], '[1]'];
    expect(new Set(values.map(c.name)).size).toBe(values.length);
    // Key order in an object is not state.
    expect(c.name({ a: 1, b: 2 })).toBe(c.name({ b: 2, a: 1 }));
    expect(() => c.name({ f: () => 0 })).toThrow(/function is not state/);
    expect(() => c.name(new Date(0))).toThrow(/only plain objects/);
  });
});

/** Every program up to `depth` without merging any state: the least length at which one fails, or null. */
function shortestByEnumeration(machine: AnyMachine, model: 'npt' | 'tsp' | 'ssp', cfg: ExhaustiveConfig, depth: number): number | null {
  const opts = { properties: propertiesFor(model), guest: 'arbitrary' as const, initialMemory: bootMemory(), universe: cfg.universe };
  const stats = emptyStats();
  let frontier: Lockstep[] = [startLockstep(machine, opts)];
  for (let d = 1; d <= depth; d++) {
    const next: Lockstep[] = [];
    for (const run of frontier) {
      for (const e of cfg.alphabet) {
        const r = stepLockstep(machine, opts, run, e, d - 1, stats);
        if (r.kind === 'violation') return d;
        next.push(r.next);
      }
    }
    frontier = next;
  }
  return null;
}

describe('merging states loses nothing', () => {
  // Depth 3 over `small` (819 programs' steps unmerged) is enough to reach every variant the small alphabet can break that fast.
  const small = config('small');
  test.each(['npt', 'tsp', 'ssp'] as const)('%s: no program of up to 3 steps fails, merged or not, and merging runs fewer steps', (model) => {
    const merged = exhaustiveSearch({ config: small, depth: 3, machine: MODELS[model], properties: propertiesFor(model) });
    expect(merged.failure).toBeNull();
    expect(shortestByEnumeration(MODELS[model], model, small, 3)).toBeNull();
    const all = small.alphabet.length + small.alphabet.length ** 2 + small.alphabet.length ** 3;
    expect(merged.transitions).toBeLessThan(all);
    expect(merged.depthCompleted).toBe(3);
  });

  // Variants the small alphabet breaks within 4 steps (a superpage or a G bit it cannot write).
  const variants = ['ssp-no-sync-on-va-fence', 'ssp-no-hw-tlb-flush', 'tsp-remap-keeps-old-frame', 'npt-no-hfence-gvma-after-remap'];
  test.each(variants)('%s: the merged search fails first at the least length any program fails at', (name) => {
    const v = findVariant(name);
    if (v === undefined) throw new Error(name);
    const r = exhaustiveSearch({ config: small, depth: 4, machine: v.machine, properties: propertiesFor(v.base) });
    const shortest = shortestByEnumeration(v.machine, v.base, small, 4);
    expect(shortest).not.toBeNull();
    expect(r.failure?.events.length ?? null).toBe(shortest);
    if (r.failure !== null) {
      // The violation is at the program's last step, and the program is words of the alphabet.
      expect(r.failure.violation.step).toBe(r.failure.events.length - 1);
      for (const e of r.failure.events) expect(small.alphabet).toContainEqual(e);
    }
  });
});

describe('shards', () => {
  const cfg = config('default');
  test('split the programs by prefix: together they run the whole search\'s first two depths, and find a failure as short', () => {
    const v = findVariant('ssp-no-sync-on-va-fence');
    if (v === undefined) throw new Error('variant');
    const run = (shard?: { index: number; count: number }) =>
      exhaustiveSearch({ config: cfg, depth: 4, machine: v.machine, properties: propertiesFor('ssp'), ...(shard === undefined ? {} : { shard }) });
    const whole = run();
    const parts = [0, 1, 2].map((index) => run({ index, count: 3 }));
    const at = (r: typeof whole, d: number) => r.perDepth[d - 1]?.transitions ?? 0;
    expect(parts.map((p) => at(p, 1))).toEqual([at(whole, 1), at(whole, 1), at(whole, 1)]);
    expect(parts.reduce((n, p) => n + at(p, 2), 0)).toBe(at(whole, 2));
    expect(whole.failure).not.toBeNull();
    const lengths = parts.flatMap((p) => (p.failure === null ? [] : [p.failure.events.length]));
    expect(Math.min(...lengths)).toBe(whole.failure?.events.length);
  });
});

describe('every configuration', () => {
  test.each(CONFIGS.map((c) => [c.name, c] as const))('%s: its accesses lie in its universe, and the universe in the pools', (_name, c) => {
    for (const va of c.universe) expect(VAS).toContain(va);
    const accessed = c.alphabet.flatMap((e: MachineEvent) => (e.kind === 'access' ? [e.va] : []));
    for (const va of accessed) expect(c.universe).toContain(va);
    expect(new Set(c.alphabet.map((e) => JSON.stringify(e, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)))).size).toBe(c.alphabet.length);
  });
});

/**
 * The depth `npm test` proves: every program of up to this many steps over the default configuration.
 * SSP_SPEC_EXHAUSTIVE_DEPTH raises it (depth 6 is `npm run exhaustive`'s default).
 */
const TEST_DEPTH = Number(process.env.SSP_SPEC_EXHAUSTIVE_DEPTH ?? '5');

describe(`every program of up to ${TEST_DEPTH} steps over the default configuration`, () => {
  test.each(['npt', 'tsp', 'ssp'] as const)('%s: every property holds, and the floors\' events occur', (model) => {
    const cfg = config('default');
    const r = exhaustiveSearch({ config: cfg, depth: TEST_DEPTH, machine: MODELS[model], properties: propertiesFor(model) });
    expect(r.failure, r.failure === null ? '' : `${r.failure.violation.property}: ${r.failure.violation.message}`).toBeNull();
    expect(r.depthCompleted).toBe(TEST_DEPTH);
    if (TEST_DEPTH >= MIN_FLOOR_DEPTH) for (const e of floorsFor(model, cfg)) expect(r.stats.events.get(e) ?? 0, e).toBeGreaterThan(0);
  });
});

describe('every program of up to 4 steps over the Svadu configuration', () => {
  test.each(['npt', 'tsp', 'ssp'] as const)('%s: every property holds, A and D are set for the guest, and stores had to set D', (model) => {
    const cfg = config('svadu');
    const r = exhaustiveSearch({ config: cfg, depth: 4, machine: MODELS[model], properties: propertiesFor(model) });
    expect(r.failure, r.failure === null ? '' : `${r.failure.violation.property}: ${r.failure.violation.message}`).toBeNull();
    for (const e of floorsFor(model, cfg)) expect(r.stats.events.get(e) ?? 0, e).toBeGreaterThan(0);
  });

  test('finds the variant that never sets D in the guest PTE, at its shortest (3 steps)', () => {
    const variant = findVariant('ssp-dirty-in-shadow-only');
    if (variant === undefined) throw new Error('variant missing');
    const r = exhaustiveSearch({ config: config('svadu'), depth: 4, machine: variant.machine, properties: propertiesFor('ssp') });
    expect(r.failure?.events.length).toBe(3);
  });
});
