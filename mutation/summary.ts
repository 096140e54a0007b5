/**
 * `npm run mutation:summary`: from the last run's report (mutation/report.json),
 * the score per file as a Markdown table, and mutation/survivors.txt: every
 * mutant that survived or had no covering test, each with its verdict from
 * mutation/verdicts.json (matched by file, the source line's text and the
 * mutator, so a verdict outlives line shifts) or `open` where there is none.
 */
import { readFileSync, writeFileSync } from 'node:fs';

interface Mutant {
  readonly mutatorName: string;
  readonly replacement?: string;
  readonly status: string;
  readonly location: { readonly start: { readonly line: number; readonly column: number } };
}
interface Report {
  readonly files: Record<string, { readonly source: string; readonly mutants: readonly Mutant[] }>;
}
/** A verdict applies to every mutant of `mutators` (all when absent) on lines of `file` containing `line`. */
interface Verdict {
  readonly file: string;
  readonly line: string;
  readonly mutators?: readonly string[];
  readonly verdict: string;
}

const here = (f: string) => new URL(f, import.meta.url);
const report = JSON.parse(readFileSync(here('report.json'), 'utf8')) as Report;
const verdicts = JSON.parse(readFileSync(here('verdicts.json'), 'utf8')) as { readonly verdicts: readonly Verdict[] };

const rows: string[] = ['| file | killed | of which timeout | survived | no coverage | ignored | score |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |'];
const survivors: string[] = [];
const total = { killed: 0, timeout: 0, survived: 0, nocov: 0, ignored: 0 };
const byVerdict = new Map<string, number>();
for (const [file, d] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
  const lines = d.source.split('\n');
  const n = { killed: 0, timeout: 0, survived: 0, nocov: 0, ignored: 0 };
  for (const m of d.mutants) {
    if (m.status === 'Killed') n.killed++;
    else if (m.status === 'Timeout') n.timeout++;
    else if (m.status === 'Survived') n.survived++;
    else if (m.status === 'NoCoverage') n.nocov++;
    else if (m.status === 'Ignored') n.ignored++;
    if (m.status !== 'Survived' && m.status !== 'NoCoverage') continue;
    const { line, column } = m.location.start;
    const text = lines[line - 1] ?? '';
    const v = verdicts.verdicts.find((x) => x.file === file && text.includes(x.line) && (x.mutators === undefined || x.mutators.includes(m.mutatorName)));
    const verdict = v?.verdict ?? 'open';
    const kind = /^[a-z-]+/.exec(verdict)?.[0] ?? verdict;
    byVerdict.set(kind, (byVerdict.get(kind) ?? 0) + 1);
    const replacement = (m.replacement ?? '').replace(/\s+/g, ' ').slice(0, 80);
    survivors.push(`${file}:${line}:${column} ${m.status === 'Survived' ? 'S' : 'N'} ${m.mutatorName} -> ${replacement}\n    ${verdict}`);
  }
  for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += n[k];
  rows.push(row(file, n));
}
rows.push(row('**total**', total));

function row(name: string, n: typeof total): string {
  const detected = n.killed + n.timeout;
  const score = (100 * detected) / Math.max(1, detected + n.survived + n.nocov);
  return `| ${name} | ${detected} | ${n.timeout} | ${n.survived} | ${n.nocov} | ${n.ignored} | ${score.toFixed(1)}% |`;
}

writeFileSync(here('survivors.txt'), [
  '# Mutants that survived (S) or had no covering test (N) in the last run (file:line:column status mutator -> replacement),',
  '# each with its verdict (mutation/verdicts.json; `open` where none is written yet). Made by `npm run mutation:summary`.',
  ...survivors, '',
].join('\n'));
process.stdout.write(`${rows.join('\n')}\n\nsurvivors and uncovered by verdict: ${[...byVerdict].map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
