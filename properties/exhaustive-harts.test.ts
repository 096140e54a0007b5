/**
 * The exhaustive search with several harts (properties/exhaustive-harts.ts): every
 * program of up to DEPTH steps of 2 harts over the `harts` configuration passes on
 * NPT, TSP and SSP and reaches remote fences, remote flushes, cross-hart races and
 * stale outcomes (from depth 4, every floor of `hartsExhaustiveFloors`); the
 * several-hart variants are caught by a shortest program the correct model passes
 * (five within 3 steps; ssp-no-sync-on-sbi-remote-fence needs 4, so it runs from
 * DEPTH 4); the search is a function of its configuration, hart count and depth.
 * DEPTH is SSP_SPEC_HARTS_EXHAUSTIVE_DEPTH, 3 by default (`.ci/run` sets 4). Budgets
 * are depths, never times.
 */
import { describe, expect, test } from 'vitest';
import { MODEL_NAMES } from '../model/models.ts';
import { HART_VARIANTS } from '../model/vcpu-variants.ts';
import { VCPU_MODELS } from '../model/vcpus.ts';
import { findConfig } from './exhaustive-configs.ts';
import { HARTS_MIN_FLOOR_DEPTH, exhaustiveHartsSearch, hartsAlphabet, hartsExhaustiveFloors } from './exhaustive-harts.ts';
import { runHartsProgram } from './harts-run.ts';
import { envCount } from './seed.ts';

const config = findConfig('harts');
if (config === undefined) throw new Error('no harts configuration');
const cfg = config;
const run = { ad: cfg.ad ?? 'svade', universe: cfg.universe } as const;
const DEPTH = envCount('SSP_SPEC_HARTS_EXHAUSTIVE_DEPTH', 3);

describe(`every program of up to ${DEPTH} steps of 2 harts over the harts configuration`, () => {
  test.each(MODEL_NAMES)('%s: every check holds, and the cross-hart events happen', (model) => {
    const r = exhaustiveHartsSearch({ config: cfg, harts: 2, depth: DEPTH, machine: VCPU_MODELS[model] });
    expect(r.failure).toBeNull();
    expect(r.depthCompleted).toBe(DEPTH);
    const floors = DEPTH >= HARTS_MIN_FLOOR_DEPTH ? hartsExhaustiveFloors(model) : ['remote-fence', 'remote-flush', 'cross-hart-race', 'stale-allowed'];
    for (const e of floors) expect(r.stats.events.get(e) ?? 0, e).toBeGreaterThan(0);
    if (model === 'ssp') expect(r.stats.events.get('resync-seen-by-other-hart') ?? 0).toBeGreaterThan(0);
  });
});

describe('the several-hart variants are caught by a shortest program the correct model passes', () => {
  /** The least depth that catches each variant. */
  const needs = (name: string): number => (name === 'ssp-no-sync-on-sbi-remote-fence' ? 4 : 3);
  test.each(HART_VARIANTS.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    if (needs(v.name) > Math.max(3, DEPTH)) {
      console.log(`properties/exhaustive-harts.test.ts: ${v.name} needs depth ${needs(v.name)}, not searched at depth ${DEPTH} (SSP_SPEC_HARTS_EXHAUSTIVE_DEPTH=4 searches it)`);
      return;
    }
    const correct = VCPU_MODELS[v.base];
    const passes = (steps: Parameters<typeof runHartsProgram>[1]['steps']): boolean => runHartsProgram(correct, { harts: 2, steps }, run).violation === null;
    const r = exhaustiveHartsSearch({ config: cfg, harts: 2, depth: needs(v.name), machine: v.machine, accept: passes });
    expect(r.failure, `${v.name} not caught within ${needs(v.name)} steps`).not.toBeNull();
    const steps = r.failure?.steps ?? [];
    expect(passes(steps)).toBe(true);
    // Shortest: every program one step shorter passed (the search completed the depth before).
    expect(r.depthCompleted).toBe(steps.length - 1);
    expect(runHartsProgram(v.machine, { harts: 2, steps }, run).violation?.check).toBe(r.failure?.violation.check);
  });
});

test('the alphabet: per-hart events on every hart, stores and host events on hart 0, two SBI fences from every hart', () => {
  const a = hartsAlphabet(cfg, 3);
  const perHart = cfg.alphabet.filter((e) => e.kind === 'access' || e.kind === 'satp' || e.kind === 'sfence').length;
  const shared = cfg.alphabet.length - perHart;
  expect(a).toHaveLength(perHart * 3 + shared + 2 * 3);
  expect(a.filter((s) => s.kind === 'host' || (s.kind === 'guest' && s.action.kind === 'ptStore')).every((s) => s.hart === 0)).toBe(true);
});

test('the search is a function of its configuration, hart count and depth', () => {
  const once = (): unknown => {
    const r = exhaustiveHartsSearch({ config: cfg, harts: 2, depth: 2, machine: VCPU_MODELS.ssp });
    return [r.transitions, r.distinct, [...r.stats.events].sort()];
  };
  expect(once()).toEqual(once());
});
