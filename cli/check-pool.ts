/** `npm start`'s checks on both cores (cli/pool.ts): each worker runs checks (cli/checks.ts) and posts their outcomes. */
import { type CheckOutcome, type CheckTask, runCheck } from './checks.ts';
import { runPool } from './pool.ts';

export { workerCount } from './pool.ts';

/** Run every task, calling `done` with each task's outcomes as soon as it and all tasks before it are done. */
export function runChecks(tasks: readonly CheckTask[], workers: number, done: (outcomes: readonly CheckOutcome[], index: number) => void): void {
  runPool(new URL('./check-worker.ts', import.meta.url), tasks, workers, runCheck, done);
}
