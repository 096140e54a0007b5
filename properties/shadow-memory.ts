/**
 * Shadow memory neither leaks nor dangles: every frame the hypervisor holds as a table is a shadow page a shadow in the buffer reaches, and each shadow page's link count is the number of shadow pointers (and buffer entries) that name it.
 *
 * The table pool's size (model/host.ts) bounds shadow memory; this property says
 * that what the pool lends is in use: a page nothing reaches any more was not
 * freed (a leak, which would exhaust the pool and turn into reclaim), a count
 * above the real one keeps a page alive forever, and one below frees a page that
 * a shadow still points to (a use after free).
 */
import { hex } from '../spec/address.ts';
import { isValidPointer, ptePpn } from '../spec/pte.ts';
import type { AnyMachine } from '../model/machine.ts';
import { commonFloors } from './floors.ts';
import { SHADOW_MODELS, everyState, property } from './property.ts';

export const shadowMemory = property({
  name: 'shadow-memory',
  sentence: 'Shadow memory neither leaks nor dangles: every frame the hypervisor holds as a table is a shadow page a shadow in the buffer reaches, and each shadow page\'s link count is the number of shadow pointers (and buffer entries) that name it.',
  models: SHADOW_MODELS,
  guests: 'arbitrary',
  floors: (m) => ({ ...commonFloors(m), 'shadow-page-free': 10 }),
  ...everyState((r) => leakOrDangle(r.machine, r.after)),
});

function leakOrDangle(machine: AnyMachine, s: unknown): string | null {
  const pages = new Map(machine.view.shadowPages(s).map((p) => [p.frame, p] as const));
  const { roots } = machine.view.shadowRoots(s);
  const named = new Map<bigint, number>();
  const name = (f: bigint) => named.set(f, (named.get(f) ?? 0) + 1);
  for (const root of roots.values()) name(root);
  for (const sp of pages.values()) for (const e of sp.entries) if (isValidPointer(e.pte)) name(ptePpn(e.pte));
  for (const sp of pages.values()) {
    const n = named.get(sp.frame) ?? 0;
    if (sp.links !== n) return `shadow page ${hex(sp.frame)} counts ${sp.links} links, ${n} shadow pointers and buffer entries name it`;
  }
  for (const [f] of named) if (!pages.has(f)) return `a shadow pointer or buffer entry names ${hex(f)}, which is not a shadow page (freed while linked)`;
  const reached = new Set<bigint>();
  const visit = (frame: bigint): void => {
    if (reached.has(frame)) return;
    reached.add(frame);
    for (const e of pages.get(frame)?.entries ?? []) if (isValidPointer(e.pte)) visit(ptePpn(e.pte));
  };
  for (const root of roots.values()) visit(root);
  const held = machine.view.tableFrames(s);
  for (const f of pages.keys()) if (!held.has(f)) return `shadow page ${hex(f)} is in use but its frame is back in the pool (it will be handed out twice)`;
  for (const f of held) {
    if (!pages.has(f)) return `host frame ${hex(f)} is held as a table but is no shadow page (leaked)`;
    if (!reached.has(f)) return `shadow page ${hex(f)} is held but no shadow in the buffer reaches it (leaked)`;
  }
  return null;
}
