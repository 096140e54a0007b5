/** A worker thread of cli/check-pool.ts: run checks until none is left. */
import { runCheck } from './checks.ts';
import { serveTasks } from './pool.ts';

serveTasks(runCheck);
