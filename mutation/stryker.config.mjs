// StrykerJS 9 over the files that decide what the hardware allows and what each
// hypervisor does (`npm run mutation`; mutation/README.md has the results).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'mutation/vitest.config.ts', related: false },
  // The seven files, and the two that took over part of their code: spec/saturation.ts (the reference's
  // saturation, shared with the G-stage reference) and model/shadow-mmu.ts (the shadow MMU shadow.ts drives).
  mutate: [
    'spec/walk.ts', 'spec/pte.ts', 'spec/reference.ts', 'spec/saturation.ts',
    'model/shadow.ts', 'model/shadow-mmu.ts', 'model/ssp.ts', 'model/tsp.ts', 'model/npt.ts',
  ],
  // String, object and array literals: in this code base they are message text (no behaviour) or values that the
  // TypeScript checker would reject (members of closed string unions such as ModelEvent and TrapReason, records missing
  // their fields). Stryker's TypeScript checker, which would discard those as compile errors, needs the compiler API
  // that TypeScript 7 no longer has; so these mutators are left out rather than counted as noise.
  mutator: { excludedMutations: ['StringLiteral', 'ObjectLiteral', 'ArrayDeclaration'] },
  // Run only the tests that execute a mutant's code, and stop at the first that kills it.
  coverageAnalysis: 'perTest',
  // Reuse the verdict of every mutant whose code and covering tests did not change since the last run.
  incremental: true,
  incrementalFile: 'mutation/stryker-incremental.json',
  concurrency: 2,
  // A mutant that makes the suite run far longer than unmutated is looping: killed by timeout, not waited for.
  timeoutFactor: 1.5,
  timeoutMS: 10_000,
  // Mutants in module-level initialisers would need every test re-run per mutant; reported as ignored, not hidden.
  ignoreStatic: true,
  reporters: ['progress', 'clear-text', 'json'],
  jsonReporter: { fileName: 'mutation/report.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: false },
  // Stryker rewrites the tsconfig with the TypeScript compiler API, which TypeScript 7 no longer has;
  // vitest does not read the tsconfig, so the sandbox needs none rewritten.
  tsconfigFile: 'mutation/no-tsconfig-to-rewrite.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
