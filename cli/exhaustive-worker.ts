/** A worker thread of cli/exhaustive.ts: run searches until none is left. */
import { runSearch } from './exhaustive-task.ts';
import { serveTasks } from './pool.ts';

serveTasks(runSearch);
