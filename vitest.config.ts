/**
 * The test suite's budgets are counts (programs, commands, scenarios), never
 * seconds: a loaded two-core machine may take several times as long as a quiet
 * one, and a wall-clock limit would turn that into a failure. The timeouts are
 * only there to end a run that hangs.
 */
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // StrykerJS copies the project into .stryker-tmp while `npm run mutation` runs.
    exclude: [...configDefaults.exclude, '.stryker-tmp/**'],
    // Both cores: vitest would otherwise leave one of two for its main process, which mostly waits.
    maxWorkers: 2,
    testTimeout: 20 * 60_000,
    hookTimeout: 20 * 60_000,
  },
});
