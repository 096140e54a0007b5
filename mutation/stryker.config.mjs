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
  // Run only the tests that execute a mutant's code, and stop at the first that kills it.
  coverageAnalysis: 'perTest',
  // Reuse the verdict of every mutant whose code and covering tests did not change since the last run.
  incremental: true,
  incrementalFile: 'mutation/stryker-incremental.json',
  concurrency: 2,
  timeoutFactor: 3,
  timeoutMS: 60_000,
  reporters: ['progress', 'clear-text', 'json'],
  jsonReporter: { fileName: 'mutation/report.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: false },
  // Stryker rewrites the tsconfig with the TypeScript compiler API, which TypeScript 7 no longer has;
  // vitest does not read the tsconfig, so the sandbox needs none rewritten.
  tsconfigFile: 'mutation/no-tsconfig-to-rewrite.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
