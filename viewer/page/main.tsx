/**
 * The page: reads the payload embedded in the HTML file (viewer/html.ts), opens
 * at the failing step and draws one step at a time; ← → Home End move. A step
 * that cannot be analysed, or a payload the page cannot read, is said in the
 * page instead of leaving it blank.
 */
import { type JSX, render } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useState } from 'preact/hooks';
import type { Payload } from '../payload.ts';
import { analyse } from './analysis.ts';
import { failingStep, summarise } from './timeline.ts';
import { TraceData } from './trace-data.ts';
import { StepPanel, Timeline, WINDOW } from './view.tsx';
import './style.css';

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v));

function Problem(props: { title: string; error: unknown }): JSX.Element {
  const e = props.error;
  return (
    <section class="panel not-drawn" id="not-drawn">
      <h2>{props.title}</h2>
      <p>{e instanceof Error ? e.message : String(e)}</p>
    </section>
  );
}

function Step(props: { data: TraceData; k: number; failing: number }): JSX.Element {
  const { data, k } = props;
  try {
    const v = analyse(data, k);
    const message = str((data.payload.meta.violation as { message?: unknown } | undefined)?.message);
    return <StepPanel v={v} count={data.count} failing={props.failing} violationMessage={message} />;
  } catch (e) {
    return <main id="step" data-step={k}><Problem title={`Step ${k} could not be drawn`} error={e} /></main>;
  }
}

/** The step in the address (#step=N), if any: a link to a step survives a reload. */
function stepFromHash(count: number): number | null {
  const m = /^#step=(\d+)$/.exec(location.hash);
  if (m === null) return null;
  const k = Number(m[1]);
  return k < count ? k : null;
}

/** What each key does to the step shown. */
const KEYS: { readonly [key: string]: (k: number, count: number) => number } = {
  ArrowLeft: (k) => k - 1,
  ArrowRight: (k) => k + 1,
  Home: () => 0,
  End: (_, count) => count - 1,
};

function App(props: { data: TraceData }): JSX.Element {
  const { data } = props;
  const failing = useMemo(() => failingStep(data), [data]);
  const [k, setK] = useState(() => stepFromHash(data.count) ?? failing);
  const clamp = (n: number): number => Math.max(0, Math.min(data.count - 1, n));
  const go = (n: number): void => setK(clamp(n));
  // One listener for the page's life, attached as soon as the page is drawn (a layout
  // effect runs before the browser paints): a key pressed at once is not lost.
  useLayoutEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      // The slider moves itself with these keys.
      if (e.target instanceof HTMLInputElement) return;
      const move = KEYS[e.key];
      if (move === undefined) return;
      e.preventDefault();
      setK((k) => clamp(move(k, data.count)));
    };
    window.addEventListener('keydown', onKey);
    document.body.dataset.ready = 'true';
    return () => window.removeEventListener('keydown', onKey);
  }, [data]);
  useEffect(() => {
    history.replaceState(null, '', `#step=${k}`);
    // The current step in the middle of the timeline; the page itself does not scroll (scrollIntoView would move it too).
    const nav = document.getElementById('timeline');
    const current = nav?.querySelector<HTMLElement>('.tl-step.current');
    if (nav && current) nav.scrollTop = current.offsetTop - nav.clientHeight / 2;
  }, [k]);
  const from = Math.max(0, k - WINDOW / 2);
  const to = Math.min(data.count, from + WINDOW);
  const summaries = [];
  for (let j = Math.max(0, to - WINDOW); j < to; j++) summaries.push(summarise(data, j));
  const meta = data.payload.meta;
  return (
    <>
      <header>
        <h1>{data.payload.file}</h1>
        <p>
          <strong>{str(meta.property)}</strong> on <strong>{str(meta.model)}</strong>
          {meta.variant === 'none' || meta.variant === undefined ? '' : <> (seeded variant <strong>{str(meta.variant)}</strong>)</>}
          {' · '}guest {str(meta.guest)} · seed {str(meta.seed)}
          {typeof meta.harts === 'number' ? <> · <strong>{meta.harts} harts</strong>, check <strong>{str(meta.check)}</strong></> : null}
        </p>
        <p class="description">{str(meta.description)}</p>
      </header>
      <div class="layout">
        <Timeline k={k} count={data.count} failing={failing} summaries={summaries} go={go} />
        <Step data={data} k={k} failing={failing} />
      </div>
    </>
  );
}

function start(): void {
  const app = document.getElementById('app');
  if (app === null) return;
  app.textContent = '';
  try {
    const payload = JSON.parse(document.getElementById('trace')?.textContent ?? 'null') as Payload;
    const data = new TraceData(payload);
    if (data.count === 0) throw new Error('the trace has no states');
    render(<App data={data} />, app);
  } catch (e) {
    render(<Problem title="This page could not read its trace" error={e} />, app);
  }
}

start();
