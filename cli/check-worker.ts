/** A worker thread of cli/check-pool.ts: take checks from the shared counter until none is left. */
import { type MessagePort, workerData } from 'node:worker_threads';
import { type CheckTask, runCheck } from './checks.ts';
import { NEXT, POSTED, type WorkerMessage } from './check-pool.ts';

const { tasks, counters, port } = workerData as { tasks: readonly CheckTask[]; counters: Int32Array; port: MessagePort };

for (;;) {
  const index = Atomics.add(counters, NEXT, 1);
  const task = tasks[index];
  if (task === undefined) break;
  let message: WorkerMessage;
  try {
    message = { index, outcome: runCheck(task) };
  } catch (e) {
    message = { index, bug: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  port.postMessage(message);
  Atomics.add(counters, POSTED, 1);
  Atomics.notify(counters, POSTED);
}
