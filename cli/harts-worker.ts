/** A worker thread of `npm start`'s several-hart checks (cli/harts-check.ts `runHartsChecks`): run checks until none is left. */
import { runHartsTask } from './harts-check.ts';
import { serveTasks } from './pool.ts';

serveTasks(runHartsTask);
