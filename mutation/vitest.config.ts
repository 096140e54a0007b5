/**
 * The tests StrykerJS runs against each mutant (`npm run mutation`): the suite's
 * own tests, minus the ones that cannot kill a mutant of the mutated files or
 * cost minutes per mutant. Kept: the litmus and two-stage tests (exact allowed
 * sets: they pin walk.ts, pte.ts and reference.ts bit by bit), the second oracle
 * and the concrete TLB against the reference, every property on every model,
 * the equivalence of the three models, and the committed counterexamples (each
 * replayed state by state under its variant and on the correct model, so a
 * mutant that changes any recorded table, TLB entry or outcome of a model dies),
 * the golden traces (a fixed set of programs writes exactly the committed
 * trace on each model: a mutant that changes a model's work or what its trace
 * shows, without making it wrong, dies there), the walk and walkAllowed tests,
 * the checks of the views the properties read, and the scripted guests
 * (properties/scripted.ts: what the generator never produces).
 * Left out: the variant-registry tests (each pair searches up to 1,000 programs;
 * the committed counterexamples already replay every variant), the input fuzz
 * and the QEMU conformance run (neither reaches the mutated files' decisions).
 * Budgets: the CI seed, 40 programs (not 150) of the full 50 commands (the
 * event floors are set for 50-command programs; at 40 commands the CI seed falls
 * below them), so a run is reproducible and its incremental results stay valid.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: [
      'spec/litmus.test.ts',
      'spec/walk-allowed.test.ts',
      'spec/walk.test.ts',
      'spec/reference.test.ts',
      'spec/two-stage.test.ts',
      'spec/two-stage-tlb.test.ts',
      'spec/gstage-reference.test.ts',
      'spec/privilege.test.ts',
      'spec/privilege-matrix.test.ts',
      'properties/reference-vs-explicit-cache.test.ts',
      'properties/concrete-tlb.test.ts',
      'properties/properties.test.ts',
      'properties/equivalence.test.ts',
      'properties/views.test.ts',
      'properties/policies.test.ts',
      'properties/tsp-write-protect.test.ts',
      'properties/outside-ram.test.ts',
      'properties/bare-mode.test.ts',
      'counterexamples/counterexamples.test.ts',
      'counterexamples/golden.test.ts',
    ],
    env: { SSP_SPEC_SEED: '20261126', SSP_SPEC_RUNS: '40', SSP_SPEC_STEPS: '50' },
    testTimeout: 20 * 60_000,
    hookTimeout: 20 * 60_000,
  },
});
