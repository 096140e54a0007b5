/**
 * Saving a counterexample. Evidence never cries wolf: a file is kept only after it
 * has been read back and replayed exactly as a user will replay it (the same
 * loader, the same replay), failing on the machine it names at the step it records
 * and, for a seeded-bug variant, passing on the correct model.
 */
import { renameSync, rmSync } from 'node:fs';
import type { AnyMachine } from '../model/machine.ts';
import type { ItfTrace } from './itf.ts';
import { type LoadedTrace, loadTrace, machineFor, replayTrace } from './replay.ts';
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
  const { correct } = req;
  return saveVerified(req.file, buildTrace(req), (t) => {
    const replayed = replayTrace(t, machineFor(t.meta).machine).violation;
    if (replayed === null) return 'the trace does not fail when it is replayed';
    if (replayed.step !== t.meta.violation.step - 1) return `the replay fails at step ${replayed.step + 1}, the trace records step ${t.meta.violation.step}`;
    const onCorrect = correct === null ? null : replayTrace(t, correct).violation;
    return correct === null || onCorrect === null ? null : `the trace fails on the correct ${correct.name} too: ${onCorrect.message}`;
  });
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
  const { correct } = req;
  return saveVerified(req.file, buildHartsTrace(req), (t) => {
    const replayed = replayHartsTrace(t, hartsMachineFor(t.meta).machine).violation;
    if (replayed === null) return 'the trace does not fail when it is replayed';
    if (replayed.step !== t.meta.violation.step - 1 || replayed.check !== t.meta.check) {
      return `the replay fails ${replayed.check} at step ${replayed.step + 1}, the trace records ${String(t.meta.check)} at step ${t.meta.violation.step}`;
    }
    const onCorrect = correct === null ? null : replayHartsTrace(t, correct).violation;
    return correct === null || onCorrect === null ? null : `the trace fails on the correct ${correct.name} too: ${onCorrect.message}`;
  });
}

/**
 * Write `trace` beside `file`, read it back as a user's replay reads it, and keep it
 * under `file` only if `objection` finds nothing wrong with it (null); the pending file
 * is removed either way.
 */
function saveVerified(file: string, trace: ItfTrace, objection: (t: LoadedTrace) => string | null): SaveResult {
  const pending = `${file}.pending-${process.pid}`;
  writeTrace(pending, trace);
  try {
    const reason = objection(loadTrace(pending));
    if (reason !== null) return { saved: false, reason };
    renameSync(pending, file);
    return { saved: true, file };
  } finally {
    rmSync(pending, { force: true });
  }
}
