/**
 * The budget the vitest suite runs properties with: smaller than `npm start`'s
 * (SSP_SPEC_RUNS programs, default 150), with the seed printed so a failure can
 * be reproduced (SSP_SPEC_SEED).
 */
import { envCount, envSeed } from './seed.ts';
import type { Budget } from './suite.ts';

export function testBudget(file: string): Budget {
  const seed = envSeed('SSP_SPEC_SEED');
  const budget = { runs: envCount('SSP_SPEC_RUNS', 150), maxCommands: envCount('SSP_SPEC_STEPS', 50), seed };
  console.log(`${file}: seed ${seed}, ${budget.runs} programs of at most ${budget.maxCommands} commands (reproduce: SSP_SPEC_SEED=${seed} SSP_SPEC_RUNS=${budget.runs} npx vitest run ${file})`);
  return budget;
}
