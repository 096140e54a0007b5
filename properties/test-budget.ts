/**
 * The budget the vitest suite runs properties with: smaller than `npm start`'s
 * (SSP_SPEC_RUNS programs, default 150), with the seed printed so a failure can
 * be reproduced (SSP_SPEC_SEED).
 */
import type { Budget } from './suite.ts';

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got '${raw}'`);
  return n;
}

export function testBudget(file: string): Budget {
  const seed = envInt('SSP_SPEC_SEED', (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0);
  const budget = { runs: envInt('SSP_SPEC_RUNS', 150), maxCommands: envInt('SSP_SPEC_STEPS', 50), seed };
  console.log(`${file}: seed ${seed}, ${budget.runs} programs of at most ${budget.maxCommands} commands (reproduce: SSP_SPEC_SEED=${seed} SSP_SPEC_RUNS=${budget.runs} npx vitest run ${file})`);
  return budget;
}
