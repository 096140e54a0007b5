/**
 * `npm start`'s checks on both cores: each worker thread takes the next check
 * from a shared counter, runs it (cli/checks.ts) and posts its outcome; the main
 * thread waits with Atomics.wait and reads the outcomes synchronously, so the
 * command stays an ordinary synchronous function. Outcomes are deterministic per
 * check, so which worker ran a check changes nothing but the wall time.
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { type CheckOutcome, type CheckTask, runCheck } from './checks.ts';

/** What a worker posts: the outcome of check `index`, or the stack of a bug. */
export type WorkerMessage = { readonly index: number; readonly outcome: CheckOutcome } | { readonly index: number; readonly bug: string };

/** Slots of the shared counters: [0] outcomes posted (what the main thread waits on), [1] next check to take. */
export const POSTED = 0;
export const NEXT = 1;

/** How many threads to run checks on: one per core, at most one per check; SSP_SPEC_WORKERS=1 keeps them in the main thread. */
export function workerCount(tasks: number, requested: number | null): number {
  return Math.max(1, Math.min(tasks, requested ?? availableParallelism()));
}

/** Run every check, calling `done` with each outcome as soon as it and all checks before it are done. */
export function runChecks(tasks: readonly CheckTask[], workers: number, done: (outcome: CheckOutcome, index: number) => void): void {
  if (workers <= 1) {
    tasks.forEach((t, i) => done(runCheck(t), i));
    return;
  }
  const counters = new Int32Array(new SharedArrayBuffer(8));
  const ports: MessagePort[] = [];
  const threads: Worker[] = [];
  for (let w = 0; w < workers; w++) {
    const { port1, port2 } = new MessageChannel();
    ports.push(port1);
    threads.push(new Worker(new URL('./worker-boot.mjs', import.meta.url), {
      workerData: { entry: new URL('./check-worker.ts', import.meta.url).href, tasks, counters, port: port2 },
      transferList: [port2],
    }));
  }
  const outcomes = new Map<number, CheckOutcome>();
  let printed = 0;
  let seen = 0;
  try {
    while (printed < tasks.length) {
      Atomics.wait(counters, POSTED, seen);
      seen = Atomics.load(counters, POSTED);
      for (const port of ports) {
        for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
          const msg = m.message as WorkerMessage;
          if ('bug' in msg) throw new Error(`a check worker failed on check ${msg.index}: ${msg.bug}`);
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
