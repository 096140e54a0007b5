/**
 * Saving a counterexample. Evidence never cries wolf: a file is kept only after it
 * has been read back and replayed exactly as a user will replay it (the same
 * loader, the same replay), failing on the machine it names at the step it records
 * and, for a seeded-bug variant, passing on the correct model.
 */
import { renameSync, rmSync } from 'node:fs';
import type { AnyMachine } from '../model/machine.ts';
import { loadTrace, machineFor, replayTrace } from './replay.ts';
import { type TraceSource, buildTrace, writeTrace } from './trace.ts';
import type { AnyVcpuMachine } from '../model/vcpus.ts';
import { type HartsTraceSource, buildHartsTrace, hartsMachineFor, replayHartsTrace } from './harts-trace.ts';

export interface SaveRequest extends TraceSource {
  readonly file: string;
  /** For a variant, the correct model it breaks; null when the machine is a model itself. */
  readonly correct: AnyMachine | null;
}

export type SaveResult = { readonly saved: true; readonly file: string } | { readonly saved: false; readonly reason: string };

export function saveCounterexample(req: SaveRequest): SaveResult {
  const pending = `${req.file}.pending-${process.pid}`;
  writeTrace(pending, buildTrace(req));
  try {
    const t = loadTrace(pending);
    const replayed = replayTrace(t, machineFor(t.meta).machine).violation;
    if (replayed === null) return { saved: false, reason: 'the trace does not fail when it is replayed' };
    if (replayed.step !== t.meta.violation.step - 1) {
      return { saved: false, reason: `the replay fails at step ${replayed.step + 1}, the trace records step ${t.meta.violation.step}` };
    }
    if (req.correct !== null) {
      const onCorrect = replayTrace(t, req.correct).violation;
      if (onCorrect !== null) return { saved: false, reason: `the trace fails on the correct ${req.correct.name} too: ${onCorrect.message}` };
    }
    renameSync(pending, req.file);
    return { saved: true, file: req.file };
  } finally {
    rmSync(pending, { force: true });
  }
}

export interface HartsSaveRequest extends HartsTraceSource {
  readonly file: string;
  /** For a several-hart variant, the correct several-hart model it breaks; null when the machine is a model itself. */
  readonly correct: AnyVcpuMachine | null;
}

/**
 * Save a several-hart counterexample under the same contract: read back with the
 * replay's loader, replayed on the machine it names, it fails with the recorded
 * check at the recorded step, and (for a variant) passes on the correct model.
 */
export function saveHartsCounterexample(req: HartsSaveRequest): SaveResult {
  const pending = `${req.file}.pending-${process.pid}`;
  writeTrace(pending, buildHartsTrace(req));
  try {
    const t = loadTrace(pending);
    const replayed = replayHartsTrace(t, hartsMachineFor(t.meta).machine).violation;
    if (replayed === null) return { saved: false, reason: 'the trace does not fail when it is replayed' };
    if (replayed.step !== t.meta.violation.step - 1 || replayed.check !== t.meta.check) {
      return { saved: false, reason: `the replay fails ${replayed.check} at step ${replayed.step + 1}, the trace records ${String(t.meta.check)} at step ${t.meta.violation.step}` };
    }
    if (req.correct !== null) {
      const onCorrect = replayHartsTrace(t, req.correct).violation;
      if (onCorrect !== null) return { saved: false, reason: `the trace fails on the correct ${req.correct.name} too: ${onCorrect.message}` };
    }
    renameSync(pending, req.file);
    return { saved: true, file: req.file };
  } finally {
    rmSync(pending, { force: true });
  }
}
