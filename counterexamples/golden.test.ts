/**
 * A fixed set of programs writes, on each model, exactly the committed trace: a
 * line per step (what ran, what the guest saw, the traps, and digests of the
 * tables and the TLB as the trace records them) and the last state's tables and
 * TLB in full. The properties judge whether a model is right; this says whether
 * it still does the same work and writes the same evidence: an extra flush, a
 * superpage split where there was none, a table entry the trace no longer
 * shows, or entries listed in another order all change the file.
 *
 * The programs (the longest of the first few a fixed seed draws for each guest
 * kind) do not follow SSP_SPEC_SEED. After an
 * intended change, read the diff and accept it with
 * `npx vitest run -u counterexamples/golden.test.ts`.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { npt } from '../model/npt.ts';
import { tsp } from '../model/tsp.ts';
import { ssp } from '../model/ssp.ts';
import { erase } from '../model/machine.ts';
import { type GuestKind, samplePrograms } from '../properties/commands.ts';
import { describeEvent } from '../properties/run.ts';
import { recordRun, traceSteps } from './trace.ts';

const SEED = 20261130;
const GUESTS: readonly GuestKind[] = ['well-behaved', 'arbitrary'];
/** Of the first DRAWN programs of each guest kind, the KEPT longest (fast-check's first draws are short). */
const DRAWN = 16;
const KEPT = 3;

const digest = (v: unknown): string =>
  createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 12);

const PROGRAMS = GUESTS.flatMap((guest) =>
  samplePrograms(guest, DRAWN, SEED)
    .map((events, index) => ({ guest, index, events }))
    .sort((a, b) => b.events.length - a.events.length || a.index - b.index)
    .slice(0, KEPT));

describe.each([erase(npt), erase(tsp), erase(ssp)].map((m) => [m.name, m] as const))('%s', (name, machine) => {
  test.each(PROGRAMS.map((p) => [`${p.guest} #${p.index}`, p] as const))('%s writes the committed trace', async (_label, p) => {
    const run = recordRun(machine, p.events, { property: 'refinement', guest: p.guest });
    expect(run.violation?.message ?? null).toBeNull();
    const lines: string[] = [];
    let last: { tables: unknown; tlb: readonly string[] } = { tables: null, tlb: [] };
    for (const s of traceSteps(run)) {
      const action = s.event === null ? 'boot' : describeEvent(s.event);
      const traced = run.records[s.index - 1];
      const result = traced?.kind === 'step' ? traced.record.result : null;
      const work = result === null ? '' : `${result.events.join(' ')} | refs ${result.walkRefs}`;
      lines.push(`${s.index} | ${action} | ${s.observation} | ${s.traps.join('; ')} | ${work} | tables ${digest(s.tables)} tlb ${digest(s.tlb)}`);
      last = { tables: s.tables, tlb: s.tlb };
    }
    const text = `${lines.join('\n')}\n\nlast tables:\n${JSON.stringify(last.tables, null, 1)}\n\nlast tlb:\n${last.tlb.join('\n')}\n`;
    await expect(text).toMatchFileSnapshot(`./golden/${name}-${p.guest}-${p.index}.txt`);
  });
});
