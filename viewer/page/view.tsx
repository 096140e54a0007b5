/**
 * The page's components (Preact): one step drawn from its analysis
 * (analysis.ts), and the timeline. Every value shown comes from the trace; words
 * are decoded by the spec's own PTE bits (pte.ts).
 */
import type { ComponentChildren, JSX } from 'preact';
import type { Change, GuestMark, HartView, Stale, StepView, TlbView } from './analysis.ts';
import type { GuestEntry, GuestTable } from './guest-tables.ts';
import { type SbiView, hartsText, satpText } from './harts.ts';
import { type GNode, type GTable, type ShadowNode, type ShadowPage, describeShadowPage, gEntryGpa } from './host-tables.ts';
import { type DecodedPte, decodePte, hex, outcomeInWords, pageSize, parseTrap } from './pte.ts';
import type { StepSummary } from './timeline.ts';

const cx = (...names: (string | false | null | undefined)[]): string => names.filter((n) => typeof n === 'string' && n !== '').join(' ');

function Section(props: { title: string; id: string; children: ComponentChildren; note?: string }): JSX.Element {
  return (
    <section class="panel" id={props.id}>
      <h2>{props.title}{props.note === undefined ? null : <span class="note"> {props.note}</span>}</h2>
      {props.children}
    </section>
  );
}

/** V R W X U G A D: set bits as letters, clear ones as a dot. */
function Flags(props: { pte: DecodedPte }): JSX.Element {
  return (
    <span class="flags" title={props.pte.flags.map(([f, on]) => `${f}=${on ? 1 : 0}`).join(' ')}>
      {props.pte.flags.map(([f, on]) => <span class={on ? 'on' : 'off'}>{on ? f : '·'}</span>)}
    </span>
  );
}

/** A PTE's word, PPN, flags and kind, as table cells. */
function PteCells(props: { pte: DecodedPte }): JSX.Element {
  const p = props.pte;
  return (
    <>
      <td class="word mono">{hex(p.word)}</td>
      <td class="mono">{p.kind === 'invalid' && !p.flags[0]?.[1] ? '' : hex(p.ppn)}</td>
      <td><Flags pte={p} /></td>
      <td class={cx('kind', p.kind)}>{p.kind}</td>
    </>
  );
}

const PTE_HEAD = (
  <>
    <th>word</th>
    <th>PPN</th>
    <th title="V R W X U G A D">VRWXUGAD</th>
    <th>kind</th>
  </>
);

function StaleText(props: { s: Stale }): JSX.Element {
  const s = props.s;
  const fences = s.fences.length === 0 ? 'no guest fence since' : `guest fence${s.fences.length > 1 ? 's' : ''} since at step${s.fences.length > 1 ? 's' : ''} ${s.fences.join(', ')}`;
  return (
    <span class="stale-text">
      stale: holds <span class="mono">{hex(s.held)}</span>, {s.source} is now <span class="mono">{s.now === null ? 'no table' : hex(s.now)}</span>
      {s.since === null ? '' : ` (changed at step ${s.since}; ${fences})`}
    </span>
  );
}

/** A hart's name, coloured by its number, wherever a hart is named. */
function HartBadge(props: { hart: number }): JSX.Element {
  return <span class={cx('hart', `h${props.hart % 4}`)}>hart {props.hart}</span>;
}

// ---- Guest tables ----

function GuestRows(props: { t: GuestTable; v: StepView; depth: number }): JSX.Element {
  const { t, v } = props;
  return (
    <>
      {t.entries.map((e: GuestEntry) => {
        const marks: readonly GuestMark[] = v.guestMarks.get(e.addr) ?? [];
        const stale = marks.some((m) => m.stale);
        return (
          <>
            <tr class={cx(v.changedAddrs.has(e.addr) && 'changed', stale && 'stale')} data-addr={hex(e.addr)}>
              <td class="lvl" style={{ paddingLeft: `${0.3 + props.depth * 1.2}em` }}>L{e.level}</td>
              <td class="mono">[{e.slot}]</td>
              <td class="mono">{hex(e.addr)}</td>
              <td class="mono">{hex(e.va)}</td>
              <PteCells pte={e.pte} />
              <td>{e.note}{marks.map((m) => <div class={cx('mark', m.stale && 'stale-text')}>{m.text}</div>)}</td>
            </tr>
            {e.child === undefined ? null : <GuestRows t={e.child} v={v} depth={props.depth + 1} />}
          </>
        );
      })}
    </>
  );
}

const GUEST_HEAD = <thead><tr><th>level</th><th>slot</th><th>PTE address</th><th>VA</th>{PTE_HEAD}<th>meaning</th></tr></thead>;

/** Several harts: a tree from each root a hart's satp names (the stepping hart's first), each with the harts that use it. */
function GuestRootTables(props: { v: StepView }): JSX.Element {
  const v = props.v;
  const why = v.memory === null ? 'not recorded' : (v.harts ?? []).some((h) => h.satp === null) ? "not drawn: a hart's satp is not recorded" : "every hart's satp is Bare: the guest translates nothing";
  return (
    <Section title="Guest page tables" id="guest" note="one tree per root the harts' satps name; non-zero words, pointers followed">
      {v.guestRoots.length === 0 ? <p class="empty">{why}</p> : v.guestRoots.map((g) => (
        <>
          <h3>root <span class="mono">{hex(g.root)}</span> (guest-physical <span class="mono">{hex(g.root << 12n)}</span>), satp of {g.harts.map((h) => <HartBadge hart={h} />)}</h3>
          <table class="pt">
            {GUEST_HEAD}
            <tbody><GuestRows t={g.tree} v={v} depth={0} /></tbody>
          </table>
        </>
      ))}
    </Section>
  );
}

function GuestTables(props: { v: StepView }): JSX.Element {
  const v = props.v;
  if (v.harts !== null) return <GuestRootTables v={v} />;
  if (v.guest === null) {
    const why = v.satp === null ? 'not recorded' : v.satp.mode === 'bare' ? 'satp is Bare: the guest translates nothing' : 'not drawn (see above)';
    return <Section title="Guest page tables" id="guest"><p class="empty">{why}</p></Section>;
  }
  return (
    <Section title="Guest page tables" id="guest" note={`root ${hex(v.guest.ppn)} (guest-physical ${hex(v.guest.ppn << 12n)}), from satp; non-zero words, pointers followed`}>
      <table class="pt">
        {GUEST_HEAD}
        <tbody><GuestRows t={v.guest} v={v} depth={0} /></tbody>
      </table>
    </Section>
  );
}

// ---- Shadow and G-stage tables ----

/** A shadow page's `loaded` and `unsync`: the hart's, or with several harts, which harts have it loaded and for which it is out of sync. */
function ShadowBadges(props: { p: ShadowPage; v: StepView }): JSX.Element {
  const { p, v } = props;
  if (v.harts === null) {
    return (
      <>
        {p.loaded ? <span class="badge loaded">loaded</span> : null}
        {p.unsync ? <span class="badge unsync">unsync</span> : null}
      </>
    );
  }
  const loadedBy = v.harts.filter((h) => h.loaded === p.name).map((h) => h.hart);
  const unsyncFor = v.harts.filter((h) => h.unsync?.includes(p.name) === true).map((h) => h.hart);
  return (
    <>
      {loadedBy.length === 0 ? null : <span class="badge loaded">loaded by {hartsText(loadedBy)}</span>}
      {unsyncFor.length === 0 ? null : <span class="badge unsync">unsync for {hartsText(unsyncFor)}</span>}
    </>
  );
}

function ShadowPageRows(props: { node: ShadowNode | { page: ShadowPage; children?: undefined }; v: StepView; depth: number }): JSX.Element {
  const { v } = props;
  const p = props.node.page;
  const isNew = v.changedFields.has(p.name);
  return (
    <>
      <tr class={cx('page-head', isNew && 'changed')} data-record={p.name}>
        <td colSpan={9} style={{ paddingLeft: `${0.3 + props.depth * 1.2}em` }}>
          <strong title={describeShadowPage(p)}>{p.name}</strong> L{p.level}, VA prefix {hex(p.prefix)}, tag {p.tag === '' ? '-' : p.tag}, mirrors {p.source}
          {p.root === '' ? '' : `, root ${p.root}`}
          <ShadowBadges p={p} v={v} />
          {p.extra.length > 0 ? <span class="raw"> other fields: {JSON.stringify(Object.fromEntries(p.extra))}</span> : null}
        </td>
      </tr>
      {p.entries.map((e) => {
        const holder = `${p.name} [${e.slot}]`;
        const stale = v.staleShadow.get(holder);
        const changed = v.changedFields.has(`${p.name}\t[${e.slot}]`) || v.changedFields.has(`${p.name}\t[${e.slot}] guest`);
        const child = props.node.children?.get(e.slot);
        return (
          <>
            <tr class={cx(changed && 'changed', stale !== undefined && 'stale')} data-holder={holder}>
              <td class="lvl" style={{ paddingLeft: `${0.9 + props.depth * 1.2}em` }}>L{p.level}</td>
              <td class="mono">[{e.slot}]</td>
              <td class="mono">{hex(e.va)}</td>
              <PteCells pte={e.pte} />
              <td class="mono">{e.guest === null ? '' : `${hex(e.guest.word)}${e.guestAt === null ? '' : ` @ ${hex(e.guestAt)}`}`}</td>
              <td>
                {e.means ?? ''}
                {stale === undefined ? null : <div><StaleText s={stale} /></div>}
                {child !== undefined && 'seen' in child ? <div class="mark">{`-> ${child.seen} (drawn above)`}</div> : null}
                {child !== undefined && 'missing' in child ? <div class="mark stale-text">{`-> frame ${hex(child.missing)}: no table record holds it`}</div> : null}
              </td>
            </tr>
            {child !== undefined && 'page' in child ? <ShadowPageRows node={child} v={v} depth={props.depth + 1} /> : null}
          </>
        );
      })}
    </>
  );
}

function GTableRows(props: { node: GNode | { table: GTable; level: null; prefix: null; children?: undefined }; v: StepView; depth: number }): JSX.Element {
  const { v, node } = props;
  const t = node.table;
  return (
    <>
      <tr class={cx('page-head', v.changedFields.has(t.name) && 'changed')} data-record={t.name}>
        <td colSpan={8} style={{ paddingLeft: `${0.3 + props.depth * 1.2}em` }}>
          <strong>{t.name}</strong> {t.table}{node.level === null ? ' (no root reaches it)' : `, L${node.level}`}
          {t.extra.length > 0 ? <span class="raw"> other fields: {JSON.stringify(Object.fromEntries(t.extra))}</span> : null}
        </td>
      </tr>
      {t.entries.map((e) => {
        const changed = v.changedFields.has(`${t.name}\t[${e.slot}]`);
        const child = node.children?.get(e.slot);
        return (
          <>
            <tr class={cx(changed && 'changed')} data-holder={`${t.name} [${e.slot}]`}>
              <td class="lvl" style={{ paddingLeft: `${0.9 + props.depth * 1.2}em` }}>{node.level === null ? '' : `L${node.level}`}</td>
              <td class="mono">[{e.slot}]</td>
              <td class="mono">{node.level === null ? '' : `${hex(gEntryGpa(node, e.slot))} (${pageSize(node.level)})`}</td>
              <PteCells pte={e.pte} />
              <td>
                {e.means ?? ''}
                {child !== undefined && 'seen' in child ? <div class="mark">{`-> ${child.seen} (drawn above)`}</div> : null}
                {child !== undefined && 'missing' in child ? <div class="mark stale-text">{`-> frame ${hex(child.missing)}: no table record holds it`}</div> : null}
              </td>
            </tr>
            {child !== undefined && 'table' in child ? <GTableRows node={child} v={v} depth={props.depth + 1} /> : null}
          </>
        );
      })}
    </>
  );
}

function HostTablesView(props: { v: StepView }): JSX.Element {
  const v = props.v;
  if (v.host === null) return <Section title="Hypervisor tables" id="host"><p class="empty">not recorded at this step</p></Section>;
  const hasShadow = v.host.shadow.length > 0;
  const hasG = v.host.gstage.length > 0;
  return (
    <>
      {hasShadow || !hasG ? (
        <Section title="Shadow tables" id="shadow" note="from each buffered root (the loaded one first); pointers followed to the shadow page they name">
          {!hasShadow ? <p class="empty">no shadow page at this step</p> : (
            <table class="pt">
              <thead><tr><th>level</th><th>slot</th><th>VA</th>{PTE_HEAD}<th>guest PTE @ address</th><th>meaning</th></tr></thead>
              <tbody>
                {v.shadow.trees.map((t) => <ShadowPageRows node={t} v={v} depth={0} />)}
                {v.shadow.unreached.length === 0 ? null : <tr class="sub"><td colSpan={9}>shadow pages no root reaches:</td></tr>}
                {v.shadow.unreached.map((p) => <ShadowPageRows node={{ page: p }} v={v} depth={0} />)}
              </tbody>
            </table>
          )}
        </Section>
      ) : null}
      {hasG ? (
        <Section title="G-stage tables" id="gstage" note="Sv39x4, host memory; from the root (16 KiB), pointers followed">
          <table class="pt">
            <thead><tr><th>level</th><th>slot</th><th>GPA</th>{PTE_HEAD}<th>meaning</th></tr></thead>
            <tbody>
              {v.gstage.trees.map((t) => <GTableRows node={t} v={v} depth={0} />)}
              {v.gstage.unreached.map((t) => <GTableRows node={{ table: t, level: null, prefix: null }} v={v} depth={0} />)}
            </tbody>
          </table>
        </Section>
      ) : null}
      {v.host.unknown.length === 0 ? null : (
        <Section title="Table records not drawn" id="unknown-tables">
          {v.host.unknown.map((u) => <div class="raw"><strong>{u.name}</strong>: {u.reason}: <span class="mono">{JSON.stringify(u.record)}</span></div>)}
        </Section>
      )}
    </>
  );
}

// ---- TLB ----

function TlbRow(props: { t: TlbView }): JSX.Element {
  const { entry, added, stale, source } = props.t;
  if (entry.kind === 'raw') return <tr class={cx(added && 'changed')}><td colSpan={9} class="mono raw">{entry.line}</td></tr>;
  if (entry.kind === 'combined') {
    return (
      <tr class={cx(added && 'changed')} data-tlb={entry.line}>
        <td>combined</td><td class="mono">{entry.tag}</td><td></td><td class="mono">{hex(entry.va)}</td>
        <td colSpan={4} class="mono">→ guest-physical {hex(entry.gpa)}</td><td></td>
      </tr>
    );
  }
  return (
    <tr class={cx(added && 'changed', stale !== null && 'stale')} data-tlb={entry.line}>
      <td>{entry.stage === 'shadow' ? 'hart' : entry.stage}</td>
      <td class="mono">{entry.tag}</td>
      <td>L{entry.level}</td>
      <td class="mono">{hex(entry.from)}</td>
      <PteCells pte={decodePte(entry.word)} />
      <td><span class="mono">{hex(entry.pteAddr)}</span>{source === null ? '' : ` (${source})`}{stale === null ? null : <div><StaleText s={stale} /></div>}</td>
    </tr>
  );
}

/** A TLB's entries, and those the step removed; `empty` when it has none and lost none. */
function TlbTable(props: { tlb: readonly TlbView[]; removed: readonly string[] }): JSX.Element {
  const { tlb, removed } = props;
  if (tlb.length === 0 && removed.length === 0) return <p class="empty">empty</p>;
  return (
    <table class="pt">
      <thead><tr><th>stage</th><th>tag</th><th>level</th><th>VA / GPA</th>{PTE_HEAD}<th>PTE address (source)</th></tr></thead>
      <tbody>
        {tlb.map((t) => <TlbRow t={t} />)}
        {removed.map((l) => <tr class="removed"><td colSpan={9} class="mono">removed: {l}</td></tr>)}
      </tbody>
    </table>
  );
}

function TlbView(props: { v: StepView }): JSX.Element {
  const v = props.v;
  if (v.tlb === null) return <Section title="TLB" id="tlb"><p class="empty">not recorded at this step</p></Section>;
  return (
    <Section title="TLB" id="tlb" note="the hart's cached entries, with their tags (ASID, VMID or global)">
      <TlbTable tlb={v.tlb} removed={v.removedTlb} />
    </Section>
  );
}

const RAN = <span class="badge ran">ran this step</span>;

/** Several harts: each hart's own state side by side in one table, then each hart's TLB. */
function HartsView(props: { v: StepView }): JSX.Element {
  const harts: readonly HartView[] = props.v.harts ?? [];
  const shadow = harts.some((h) => h.loaded !== null);
  const sync = harts.some((h) => h.unsync !== null);
  const staleOf = (h: HartView): number => (h.tlb ?? []).filter((t) => t.stale !== null).length;
  return (
    <Section title="Harts" id="harts" note="each hart's own state after the step: its satp, the shadow it has loaded, the shadow pages out of sync for it, and its TLB">
      <table class="harts">
        <thead>
          <tr><th>hart</th><th>guest satp</th>{shadow ? <th>loaded shadow</th> : null}{sync ? <th>out of sync for it</th> : null}<th>TLB entries</th><th>stale</th></tr>
        </thead>
        <tbody>
          {harts.map((h) => (
            <tr class={cx(h.stepping && 'current', staleOf(h) > 0 && 'stale')} data-hart={h.hart}>
              <td><HartBadge hart={h.hart} />{h.stepping ? RAN : null}</td>
              <td class="mono">{h.satp === null ? 'not recorded' : satpText(h.satp)}</td>
              {shadow ? <td class="mono">{h.loaded === null ? 'not recorded' : h.loaded === '' ? 'none' : h.loaded}</td> : null}
              {sync ? <td class="mono">{h.unsync === null ? 'not recorded' : h.unsync.length === 0 ? 'none' : h.unsync.join(', ')}</td> : null}
              <td class="num">{h.tlb === null ? 'not recorded' : h.tlb.length}</td>
              <td class="num">{staleOf(h) === 0 ? '' : staleOf(h)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {harts.map((h) => (
        <div class="hart-tlb" id={`hart-${h.hart}`}>
          <h3><HartBadge hart={h.hart} /> TLB{h.stepping ? RAN : null}</h3>
          {h.tlb === null ? <p class="empty">not recorded at this step</p> : <TlbTable tlb={h.tlb} removed={h.removedTlb} />}
        </div>
      ))}
    </Section>
  );
}

const ALL_HARTS = (1n << 64n) - 1n;

/** An SBI remote fence: the harts it names, the range, the ASID, and what the machine returned. */
function SbiCall(props: { s: SbiView; from: number | null }): JSX.Element {
  const { s } = props;
  return (
    <div class="sbi" id="sbi">
      <div><span class="label">SBI call</span> <span class="mono">{s.fn}</span>{props.from === null ? null : <> from <HartBadge hart={props.from} /></>}</div>
      <div>
        <span class="label">fences</span> {s.harts === null ? 'no hart: the mask names a hart that does not exist (SBI_ERR_INVALID_PARAM)' : s.harts.map((h) => <HartBadge hart={h} />)}
        <span class="note"> (hart_mask <span class="mono">{hex(s.hartMask)}</span>, hart_mask_base <span class="mono">{s.hartMaskBase === ALL_HARTS ? '-1, every hart' : hex(s.hartMaskBase)}</span>)</span>
      </div>
      <div><span class="label">range</span> <span class="mono">{s.range}</span><span class="note"> (start_addr <span class="mono">{hex(s.startAddr)}</span>, size <span class="mono">{hex(s.size)}</span>)</span></div>
      <div><span class="label">ASID</span> {s.asid === null ? 'every address space' : <><span class="mono">{s.asid.toString()}</span> (global entries spared)</>}</div>
      <div><span class="label">returned</span> {s.error === null ? 'not recorded' : `error ${s.error}${s.error === 0 ? ' (SBI_SUCCESS)' : s.error === -3 ? ' (SBI_ERR_INVALID_PARAM)' : ''}, value ${s.value === null ? '?' : s.value.toString()}`}</div>
    </div>
  );
}

// ---- Step header, observation, counters, changes ----

function Observation(props: { v: StepView }): JSX.Element {
  const v = props.v;
  if (v.observation === null) return <p class="empty">no access at this step</p>;
  return (
    <div class={cx('observation', v.ok === false && 'bad')}>
      <div>
        <span class="label">observed</span> <span class="mono">{v.observation}</span> — {outcomeInWords(v.observation)}
        {v.ok === false ? <span class="badge violation">not allowed</span> : v.ok === true ? <span class="badge ok">allowed</span> : null}
      </div>
      <div><span class="label">allowed</span>{v.allowed === null ? ' not recorded' : v.allowed.length === 0 ? ' (nothing)' : null}</div>
      <ul class="allowed">
        {(v.allowed ?? []).map((a) => <li class={cx(a === v.observation && 'match')}><span class="mono">{a}</span> — {outcomeInWords(a)}</li>)}
      </ul>
    </div>
  );
}

function Counters(props: { v: StepView }): JSX.Element {
  const v = props.v;
  return (
    <Section title="Exits and M-mode traps" id="counters">
      {v.exits === null ? <p class="empty">not recorded</p> : v.exits.length === 0 ? <p class="empty">none so far</p> : (
        <table class="counters">
          <thead><tr><th>reason</th><th>count</th><th>this step</th></tr></thead>
          <tbody>
            {v.exits.map((e) => <tr class={cx(e.delta !== 0 && 'changed')}><td>{e.reason}</td><td class="num">{e.count}</td><td class="num">{e.delta === 0 ? '' : `+${e.delta}`}</td></tr>)}
          </tbody>
        </table>
      )}
      <h3>Traps taken at this step</h3>
      {v.traps === null ? <p class="empty">not recorded</p> : v.traps.length === 0 ? <p class="empty">none</p> : (
        <ul>
          {v.traps.map((t) => {
            const p = parseTrap(t);
            return <li class="mono">{p === null ? t : `cause ${p.cause}: ${p.from} → ${p.to}, ${p.cost} (${p.reason})`}</li>;
          })}
        </ul>
      )}
    </Section>
  );
}

function changeText(c: Change): string {
  switch (c.area) {
    case 'memory':
      return `guest [${hex(c.addr)}]: ${c.before === null ? '(absent)' : hex(c.before)} → ${c.after === null ? '(absent)' : hex(c.after)}`;
    case 'table':
      return c.field === '' ? `${c.record}: ${c.before === null ? 'added' : 'removed'}` : `${c.record} ${c.field}: ${c.before ?? '(absent)'} → ${c.after ?? '(absent)'}`;
    case 'tlb':
      return `${c.hart === null ? 'TLB' : `hart ${c.hart} TLB`} ${c.added ? 'added' : 'removed'}: ${c.line}`;
    case 'state':
      return c.text;
  }
}

function Changes(props: { v: StepView }): JSX.Element {
  const v = props.v;
  return (
    <Section title="Changed since the previous step" id="changes" note="highlighted below too">
      {v.k === 0 ? <p class="empty">boot state: nothing before it</p> : v.changes.length === 0 ? <p class="empty">nothing recorded changed</p> : (
        <ul class="changes">{v.changes.map((c) => <li class={cx('mono', c.area)}>{changeText(c)}</li>)}</ul>
      )}
    </Section>
  );
}

export function StepPanel(props: { v: StepView; count: number; failing: number; violationMessage: string }): JSX.Element {
  const v = props.v;
  return (
    <main id="step" data-step={v.k}>
      <section class={cx('panel', 'head', v.violation !== '' && 'violation')}>
        <h2>
          Step {v.k} of {props.count - 1}{v.k === props.failing ? <span class="badge violation">failing step</span> : null}
          <span class="kind">{v.kind}</span>
        </h2>
        <p class="command">{v.text}{v.described ? <span class="note"> (described by the viewer: the trace records no text)</span> : null}</p>
        {v.harts === null ? (
          <p class="ctx">
            hart in <strong>{v.priv ?? '?'}</strong>; guest satp{' '}
            <span class="mono">{v.satp === null ? 'not recorded' : satpText(v.satp)}</span>
          </p>
        ) : (
          <p class="ctx">
            {v.hart === null ? 'every hart' : <><HartBadge hart={v.hart} /> ran this step,</>} in <strong>{v.priv ?? '?'}</strong>; {v.hart === null ? 'guest satp' : 'its guest satp'}{' '}
            <span class="mono">{v.satp === null ? 'not recorded' : satpText(v.satp)}</span>
          </p>
        )}
        {v.sbi === null ? null : <SbiCall s={v.sbi} from={v.hart} />}
        <Observation v={v} />
        {v.violation === '' ? null : <p class="violation-text" id="violation"><span class="badge violation">violation</span> {v.violation}</p>}
        {v.stale.length === 0 ? null : (
          <div class="stale-list"><h3>Held values older than their tables</h3>
            <ul>{v.stale.map((s) => <li>{s.holder}: <StaleText s={s} /></li>)}</ul>
          </div>
        )}
      </section>
      {v.notDrawn.length === 0 ? null : (
        <section class="panel not-drawn" id="not-drawn">
          <h2>Not drawn at this step</h2>
          <ul>{v.notDrawn.map((n) => <li>{n}</li>)}</ul>
        </section>
      )}
      <Changes v={v} />
      <GuestTables v={v} />
      <HostTablesView v={v} />
      {v.harts === null ? <TlbView v={v} /> : <HartsView v={v} />}
      <Counters v={v} />
    </main>
  );
}

// ---- Timeline ----

/** Steps drawn around the current one: a long trace's timeline is a window, with a slider for the whole. */
export const WINDOW = 80;

export function Timeline(props: { k: number; count: number; failing: number; summaries: readonly StepSummary[]; go: (k: number) => void }): JSX.Element {
  const { k, count, summaries } = props;
  const first = summaries[0]?.k ?? 0;
  const last = summaries[summaries.length - 1]?.k ?? 0;
  return (
    <nav id="timeline" aria-label="steps">
      <div class="timeline-head">
        <input type="range" min={0} max={count - 1} value={k} aria-label="step" onInput={(e) => props.go(Number((e.currentTarget as HTMLInputElement).value))} />
        <div class="keys">← → step, Home / End first / last{count > 1 ? ` · ${count - 1} steps` : ''}
          {' · '}<a href="#" onClick={(e) => { e.preventDefault(); props.go(props.failing); }}>failing step {props.failing}</a>
        </div>
      </div>
      <ol class="steps">
        {first > 0 ? <li class="more">… {first} earlier step{first > 1 ? 's' : ''}</li> : null}
        {summaries.map((s) => (
          <li class={cx('tl-step', s.k === k && 'current', s.events.some((e) => e.kind === 'violation') && 'has-violation')} data-k={s.k} onClick={() => props.go(s.k)}>
            <span class="num">{s.k}</span>
            <span class="tl-text">{s.hart === null ? null : <HartBadge hart={s.hart} />}{s.text}</span>
            <span class="events">{s.events.map((e) => <span class={cx('ev', e.kind)}>{e.text}</span>)}</span>
          </li>
        ))}
        {last < count - 1 ? <li class="more">… {count - 1 - last} later step{count - 1 - last > 1 ? 's' : ''}</li> : null}
      </ol>
    </nav>
  );
}
