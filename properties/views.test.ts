/**
 * The views the isolation and justified-shadow properties judge list everything
 * the state holds: each is checked against the state read independently, at
 * every step of a fixed set of programs. The G-stage table is walked with
 * spec/two-stage.ts for every guest page; each shadow is walked with
 * spec/walk.ts from its root in host memory for every address of the
 * generator's pool; each TLB is read entry by entry. A view that left something
 * out would make the property that reads it blind to it, and the property
 * would still pass.
 */
import { describe, expect, test } from 'vitest';
import { PAGE_SHIFT, type Gpa, gpa, hpa } from '../spec/address.ts';
import { encodePte, isValidLeaf, pteG, ptePpn, pteR, pteU, pteW, pteX } from '../spec/pte.ts';
import { gStageContext, walkSv39x4 } from '../spec/two-stage.ts';
import { readWord, writeWord } from '../spec/memory.ts';
import { walkSv39 } from '../spec/walk.ts';
import { bootFrame } from '../model/host.ts';
import type { HostTranslationView, Machine, MachineEvent } from '../model/machine.ts';
import { type NptState, npt } from '../model/npt.ts';
import type { ShadowState } from '../model/shadow-mmu.ts';
import { ssp } from '../model/ssp.ts';
import { tsp } from '../model/tsp.ts';
import { type GuestKind, samplePrograms } from './commands.ts';
import { VAS, bootMemory, guestConfig } from './pools.ts';

const SEED = 20261130;
const PROGRAMS = 20;

function programs(): MachineEvent[][] {
  return (['well-behaved', 'arbitrary'] as GuestKind[]).flatMap((guest) => samplePrograms(guest, PROGRAMS / 2, SEED));
}

/** Every state a machine passes through on the programs (boot state included). */
function* statesOf<S>(m: Machine<S>): Generator<S> {
  for (const events of programs()) {
    let s = m.init(guestConfig, bootMemory());
    yield s;
    for (const e of events) {
      s = m.step(s, e).state;
      yield s;
    }
  }
}

const pagesAt = (level: number): bigint => 1n << (9n * BigInt(level));
const covers = (t: HostTranslationView, gpn: bigint, hpn: bigint) => gpn >= t.gpn && gpn < t.gpn + t.pages && t.hpn + (gpn - t.gpn) === hpn;

describe('npt: hostTranslations', () => {
  const ramPages = guestConfig.ramPages;
  const base = guestConfig.ramBasePage;

  /** The G-stage table's translation of every guest page of RAM, walked from host memory. */
  function gstageOf(s: NptState): Map<bigint, bigint> {
    const out = new Map<bigint, bigint>();
    for (let gpn = base; gpn < base + ramPages; gpn++) {
      const [w] = walkSv39x4(gpa(gpn << PAGE_SHIFT), s.hgatp.rootPpn, gStageContext('load', true, false),
        (_l, a) => [{ kind: 'word', value: readWord(s.host.mem, a) }], { svade: false }, () => true);
      if (w?.kind === 'ok') out.set(gpn, w.hpa >> PAGE_SHIFT);
    }
    return out;
  }

  test('lists every cached G-stage leaf and combined entry, and every G-stage table leaf off the boot layout', () => {
    let checked = 0;
    let offBoot = 0;
    let cached = 0;
    for (const s of statesOf(npt)) {
      const view = npt.view.hostTranslations(s);
      const table = view.filter((t) => t.what.startsWith('G-stage table'));
      for (const es of s.tlb.g.values()) {
        for (const e of es) {
          if (!isValidLeaf(e.pte)) continue;
          cached++;
          const gpn = e.prefix << (9n * BigInt(e.level));
          expect(view.some((t) => t.what.startsWith('G-stage TLB') && t.gpn === gpn && t.hpn === ptePpn(e.pte) && t.pages === pagesAt(e.level))).toBe(true);
        }
      }
      const combined = [...s.tlb.combined.values()].flat();
      expect(view.filter((t) => t.what.startsWith('combined TLB'))).toHaveLength(combined.length);
      for (const e of combined) {
        const gpn = e.gpa >> PAGE_SHIFT;
        const g = e.leaves.g;
        const hpn = ptePpn(g.leaf) + (gpn & (pagesAt(g.level) - 1n));
        cached++;
        expect(view.some((t) => t.what.startsWith('combined TLB') && t.gpn === gpn && t.hpn === hpn && t.pages === 1n)).toBe(true);
      }
      // Only every fourth state is walked page by page: 2,048 walks each.
      if (checked++ % 4 !== 0) continue;
      const walked = gstageOf(s);
      for (const [gpn, hpn] of walked) {
        const listed = table.some((t) => covers(t, gpn, hpn));
        if (hpn !== bootFrame(gpn) || s.host.p2m.has(gpn)) {
          offBoot++;
          expect(listed, `guest page 0x${gpn.toString(16)} -> 0x${hpn.toString(16)}`).toBe(true);
        }
      }
      // And nothing listed that the table does not hold.
      for (const t of table) for (let k = 0n; k < t.pages; k++) expect(walked.get(t.gpn + k)).toBe(t.hpn + k);
    }
    // The programs reach the cases: cached entries, and table leaves off the boot layout (host remaps, write protection).
    expect(cached).toBeGreaterThan(1000);
    expect(offBoot).toBeGreaterThan(100);
  });

  // The view lists a table leaf only where it can be wrong (off the boot layout); in a correct run every whole
  // region's level-1 leaf is its boot leaf. So wrong leaves are planted, one per place, and must be listed.
  test('lists a planted level-1 leaf and a planted level-0 leaf off the boot layout', () => {
    const plant = (s: NptState, frame: bigint, index: bigint, pte: bigint): NptState =>
      ({ ...s, host: { ...s.host, mem: writeWord(s.host.mem, hpa((frame << PAGE_SHIFT) + index * 8n), pte) } });
    const boot = npt.init(guestConfig, bootMemory());
    // Guest RAM's second 2 MiB region, pointed at the third region's frames.
    const region = (base >> 9n) + 1n;
    const wrong = bootFrame((region + 1n) << 9n);
    const l1 = plant(boot, boot.gstage.l1, region & 0x1ffn, encodePte({ ppn: wrong, r: true, w: true, x: true, u: true, a: true, d: true }));
    expect(npt.view.hostTranslations(l1).filter((t) => t.what.startsWith('G-stage table'))).toEqual([
      expect.objectContaining({ gpn: region << 9n, hpn: wrong, pages: 512n }),
    ]);
    let split: NptState | undefined;
    for (const s of statesOf(npt)) if (s.gstage.split.size > 0) { split = s; break; }
    if (split === undefined) throw new Error('no program split a region');
    const [r, l0] = [...split.gstage.split][0] as [bigint, bigint];
    // A page of that region the host never moved, pointed one frame off.
    const k = [...Array(512).keys()].map(BigInt).find((i) => !split.host.p2m.has((r << 9n) + i)) ?? 0n;
    const gpn = (r << 9n) + k;
    const planted = plant(split, l0, k, encodePte({ ppn: bootFrame(gpn) + 1n, r: true, w: true, x: true, u: true, a: true, d: true }));
    expect(npt.view.hostTranslations(planted)).toContainEqual(expect.objectContaining({ gpn, hpn: bootFrame(gpn) + 1n, pages: 1n }));
    expect(npt.view.hostTranslations(split)).not.toContainEqual(expect.objectContaining({ gpn, pages: 1n }));
  });
});

describe.each([['tsp', tsp], ['ssp', ssp]] as const)('%s: shadowLeaves and hostTranslations', (_name, m: Machine<ShadowState>) => {
  const ctx = { kind: 'load', priv: 'S', sum: true, mxr: true } as const;
  const read = (s: ShadowState) => (_l: number, a: Gpa) => [{ kind: 'pte' as const, pte: readWord(s.host.mem, hpa(a)), fromMemory: true }];

  test('list every leaf a walk of a buffered shadow reaches, with its tag and guest walk, and every cached hardware entry', () => {
    let reached = 0;
    let tlbEntries = 0;
    for (const s of statesOf(m)) {
      const leaves = m.view.shadowLeaves(s);
      for (const [key, root] of s.mmu.roots) {
        const asid = /asid=(\d+)/.exec(key)?.[1];
        const mine = leaves.filter((l) => l.shadow === key);
        for (const l of mine) {
          expect(l.asid).toBe(asid === undefined ? -1 : Number(asid));
          expect(l.loaded).toBe(s.active === key);
          // The guest walk a leaf records: root first, one step per level down to the guest leaf.
          expect(l.guestPath.map((p) => p.level)).toEqual([2, 1, 0].slice(0, 3 - l.guestLevel));
          expect(l.guestLevel).toBeGreaterThanOrEqual(l.level);
          // And it is a leaf: a walk of its first address from the root ends at it.
          const [w] = walkSv39(l.va, root, ctx, read(s), { svade: false }, () => true);
          const last = w?.path[w.path.length - 1];
          expect(last !== undefined && isValidLeaf(last.pte) && ptePpn(last.pte) === l.hpn && last.level === l.level, `${key} leaf for ${l.va.toString(16)}`).toBe(true);
        }
        for (const va of VAS) {
          const [w] = walkSv39(va, root, ctx, read(s), { svade: false }, () => true);
          const last = w?.path[w.path.length - 1];
          if (last === undefined || !isValidLeaf(last.pte)) continue;
          reached++;
          const vpn = (va & ((1n << 39n) - 1n)) >> PAGE_SHIFT;
          const l = mine.find((x) => vpn >= (x.va & ((1n << 39n) - 1n)) >> PAGE_SHIFT && vpn < ((x.va & ((1n << 39n) - 1n)) >> PAGE_SHIFT) + x.pages);
          expect(l, `${key} ${va.toString(16)}`).toBeDefined();
          if (l === undefined) continue;
          expect([l.hpn, l.level, l.r, l.w, l.x, l.u]).toEqual([ptePpn(last.pte), last.level, pteR(last.pte), pteW(last.pte), pteX(last.pte), pteU(last.pte)]);
          expect(l.g).toBe(w?.path.some((p) => pteG(p.pte)));
        }
      }
      const host = m.view.hostTranslations(s);
      expect(host.filter((t) => t.what.startsWith('shadow '))).toHaveLength(leaves.length);
      const hw = [...s.tlb.values()].flat().filter((e) => isValidLeaf(e.pte));
      tlbEntries += hw.length;
      expect(host.filter((t) => t.what.startsWith('hardware TLB'))).toHaveLength(hw.length);
    }
    expect(reached).toBeGreaterThan(500);
    expect(tlbEntries).toBeGreaterThan(100);
  });
});
