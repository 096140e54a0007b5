/**
 * Work on both cores: each worker thread takes the next task from a shared
 * counter, runs it and posts its outcome; the main thread waits with Atomics.wait
 * and reads the outcomes synchronously, so a command stays an ordinary
 * synchronous function. Outcomes are deterministic per task, so which worker ran
 * a task changes nothing but the wall time. Used by `npm start` (cli/check-pool.ts)
 * and `npm run exhaustive` (cli/exhaustive.ts).
 */
import { availableParallelism } from 'node:os';
import { parseCount } from '../properties/seed.ts';
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort, workerData } from 'node:worker_threads';

/** What a worker posts: the outcome of task `index`, or the stack of a bug. */
type WorkerMessage<O> = { readonly index: number; readonly outcome: O } | { readonly index: number; readonly bug: string };

/** Slots of the shared counters: [0] outcomes posted (what the main thread waits on), [1] next task to take. */
const POSTED = 0;
const NEXT = 1;

/** SSP_SPEC_WORKERS: how many threads run the tasks (default: one per core; 1 runs them in the main thread). */
export function envWorkers(): number | null {
  const raw = process.env.SSP_SPEC_WORKERS;
  return raw === undefined || raw === '' ? null : parseCount(raw, 'SSP_SPEC_WORKERS');
}

/** How many threads to run tasks on: one per core, at most one per task. */
export function workerCount(tasks: number, requested: number | null): number {
  return Math.max(1, Math.min(tasks, requested ?? availableParallelism()));
}

/**
 * Run every task, calling `done` with each outcome as soon as it and all tasks before it are done:
 * in this thread with `run` when there is one worker, else on threads that load `entry` (a module
 * that calls `serveTasks` with the same `run`).
 */
export function runPool<T, O>(entry: URL, tasks: readonly T[], workers: number, run: (task: T) => O, done: (outcome: O, index: number) => void): void {
  if (workers <= 1) {
    tasks.forEach((t, i) => done(run(t), i));
    return;
  }
  const counters = new Int32Array(new SharedArrayBuffer(8));
  const ports: MessagePort[] = [];
  const threads: Worker[] = [];
  for (let w = 0; w < workers; w++) {
    const { port1, port2 } = new MessageChannel();
    ports.push(port1);
    threads.push(new Worker(new URL('./worker-boot.mjs', import.meta.url), {
      workerData: { entry: entry.href, tasks, counters, port: port2 },
      transferList: [port2],
    }));
  }
  const outcomes = new Map<number, O>();
  let printed = 0;
  let seen = 0;
  try {
    while (printed < tasks.length) {
      Atomics.wait(counters, POSTED, seen);
      seen = Atomics.load(counters, POSTED);
      for (const port of ports) {
        for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
          const msg = m.message as WorkerMessage<O>;
          if ('bug' in msg) throw new Error(`a worker failed on task ${msg.index}: ${msg.bug}`);
          outcomes.set(msg.index, msg.outcome);
        }
      }
      for (let o = outcomes.get(printed); o !== undefined; o = outcomes.get(printed)) {
        done(o, printed);
        printed++;
      }
    }
  } finally {
    for (const t of threads) void t.terminate();
  }
}

/** The body of a worker thread of runPool: take tasks from the shared counter until none is left. */
export function serveTasks<T, O>(run: (task: T) => O): void {
  const { tasks, counters, port } = workerData as { tasks: readonly T[]; counters: Int32Array; port: MessagePort };
  for (;;) {
    const index = Atomics.add(counters, NEXT, 1);
    const task = tasks[index];
    if (task === undefined) break;
    let message: WorkerMessage<O>;
    try {
      message = { index, outcome: run(task) };
    } catch (e) {
      message = { index, bug: e instanceof Error ? (e.stack ?? e.message) : String(e) };
    }
    port.postMessage(message);
    Atomics.add(counters, POSTED, 1);
    Atomics.notify(counters, POSTED);
  }
}
