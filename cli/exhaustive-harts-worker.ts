/** A worker thread of `npm run exhaustive -- --harts N`: run several-hart searches until none is left. */
import { runHartsSearch } from './exhaustive-harts-task.ts';
import { serveTasks } from './pool.ts';

serveTasks(runHartsSearch);
