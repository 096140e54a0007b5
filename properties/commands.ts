/**
 * Random guest programs. A command is plain data naming things by pool index
 * ("the leaf that maps VA 3 in address space 1"); it is *resolved* when it runs,
 * against the guest's own bookkeeping (the page-table stores it has made, the
 * satp it wrote), never against a machine's outcomes, so the same program means
 * the same events on every machine. A resolved program is what a counterexample
 * keeps, so a replay never depends on this generator.
 */
import fc from 'fast-check';
import { match } from 'ts-pattern';
import { type Gpa, type Gva, type Level, PAGE_SHIFT, gva, hex } from '../spec/address.ts';
import { type Memory, pageWords, pagesOf, readWord, writeWord } from '../spec/memory.ts';
import { PTE_A, PTE_D, PTE_G, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X, encodePte, isValidPointer, ptePpn } from '../spec/pte.ts';
import { inRam } from '../spec/config.ts';
import { type AccessKind, type Privilege, type PteRead, walkSv39 } from '../spec/walk.ts';
import type { MachineEvent } from '../model/machine.ts';
import {
  ALL_FRAMES, ASIDS, BOOT_ASID_OF_ROOT, DATA_FRAMES, NON_CANONICAL, OFFSETS, PAGE_WORDS, PT_FRAMES, ROOTS, SLOTS, SUPERPAGE_1G_FRAMES,
  SUPERPAGE_2M_FRAMES, VAS, bootMemory, guestConfig, pteAddress,
} from './pools.ts';

export type Command =
  | { readonly kind: 'ptStore'; readonly frame: number; readonly slot: number; readonly value: bigint }
  /** Store a new PTE where the walk of VA `va` ends in address space `space` (its leaf, or the invalid PTE that stops it). */
  | { readonly kind: 'retarget'; readonly space: number | 'current'; readonly va: number; readonly value: bigint }
  /** An access to the word at byte `offset` of VA `va`'s page. */
  | { readonly kind: 'access'; readonly va: number; readonly offset: bigint; readonly access: AccessKind; readonly priv: Privilege; readonly value: bigint }
  | { readonly kind: 'satp'; readonly root: number; readonly asid: number }
  | { readonly kind: 'sfence'; readonly va: number | null; readonly asid: number | 'current' | null }
  | { readonly kind: 'sum'; readonly value: boolean }
  | { readonly kind: 'mxr'; readonly value: boolean }
  /** Free a page-table page: the guest zeroes the slots it uses. */
  | { readonly kind: 'freeTable'; readonly frame: number }
  | { readonly kind: 'host'; readonly op: 'hostRemap' | 'hostWriteProtect' | 'hostUnprotect'; readonly frame: number }
  /** The OS idiom: touch a page, change its mapping, fence it (or not, or too narrowly), touch it again. */
  | { readonly kind: 'remapIdiom'; readonly va: number; readonly value: bigint; readonly fence: IdiomFence; readonly access: AccessKind }
  /**
   * The OS idiom that changes a walk above its leaf: touch VA `va` (with `used`, the
   * `va`-th, cyclically, of the pages the program touched last), store `target` at the
   * PTE its walk in address space `space` reads at `level` (or at the one that ends
   * the walk above that level), fence (or not, or too narrowly), touch it again.
   */
  | {
      readonly kind: 'pointerIdiom'; readonly space: number | 'current'; readonly va: number; readonly used: boolean; readonly level: 1 | 2;
      readonly target: WalkTarget; readonly fence: IdiomFence; readonly access: AccessKind;
    }
  /**
   * The OS idiom of a page-table page's life: take pool VA `va` (or the next one,
   * cyclically, whose walk in the loaded address space ends at level 0); unlink the
   * `frame`-th (cyclically) page-table page off that walk, never the loaded root, and
   * empty it; map the VA to it with a writable data leaf; store `words` (word slot,
   * value) through the VA; then
   * link it back as a table where it was (`parents`), under the VA's level-1 PTE
   * (`walk`), or not yet (`later`: a later pointer store may), having cleared the
   * words and restored the VA's leaf first (`clear`) or not, with fences after each
   * stage (`fenced`) or none; touch the first word again. A well-behaved guest
   * clears and fences, and frees no root.
   */
  | {
      readonly kind: 'reuseTable'; readonly frame: number; readonly va: number; readonly words: readonly { readonly slot: number; readonly value: bigint }[];
      readonly relink: 'parents' | 'walk' | 'later'; readonly clear: boolean; readonly fenced: boolean; readonly access: AccessKind;
    }
  /** The host idiom of live migration: write-protect the page VA maps, let the guest store to its word at `offset`, give write access back. */
  | { readonly kind: 'dirtyLogIdiom'; readonly va: number; readonly offset: bigint; readonly value: bigint }
  /**
   * The OS idiom of page aging and writeback (Linux's ptep_test_and_clear_young and clear_refs, made for Svadu):
   * store to the page VA maps, clear A, D or both in its leaf, fence (or not), touch it again.
   */
  | { readonly kind: 'agingIdiom'; readonly va: number; readonly clear: 'a' | 'd' | 'ad'; readonly fence: IdiomFence; readonly access: AccessKind; readonly value: bigint }
  /** The OS idiom: switch to another address space, change the first one's mapping, fence it (or not), switch back, touch it. */
  | { readonly kind: 'asidDance'; readonly other: number; readonly va: number; readonly value: bigint; readonly fence: 'none' | 'va-asid' | 'x0-asid' };

/** Well-behaved guests fence eagerly after every PTE change and never set G; arbitrary ones do anything. */
export type GuestKind = 'arbitrary' | 'well-behaved';

/** The fence an idiom follows its page-table store with: SFENCE.VMA with the VA or x0, and the current ASID or x0. */
export type IdiomFence = 'none' | 'va' | 'va-asid' | 'x0-asid' | 'x0';

/** What the pointer idiom stores on a walk above its leaf. */
export type WalkTarget =
  /** A pointer to page-table page `frame` (with the G bit when `g`). */
  | { readonly kind: 'table'; readonly frame: number; readonly g: boolean }
  /** A pointer to the `n`-th (cyclically) page-table page holding no word now, a freed one; to table `n` if none is empty. */
  | { readonly kind: 'empty-table'; readonly n: number }
  /** A superpage leaf, aligned or not. */
  | { readonly kind: 'superpage'; readonly value: bigint }
  /** A word that fails step 3. */
  | { readonly kind: 'invalid'; readonly value: bigint };

/** `true` with probability about p/8. */
const likely = (eighths: number) => fc.integer({ min: 0, max: 7 }).map((n) => n < eighths);

const flagsArb = (kind: GuestKind) =>
  fc.record({
    r: likely(7), w: likely(5), x: likely(3), u: likely(2),
    g: kind === 'arbitrary' ? fc.integer({ min: 0, max: 6 }).map((n) => n === 0) : fc.constant(false),
    a: likely(7),
    d: likely(6),
  }).map((f) => ({ ...f, r: f.r || !f.x })); // valid leaves: W-only is left to the garbage arm

/** What an OS stores when it maps a page: mostly a 4 KiB leaf to a data page, sometimes anything. */
export function leafValueArb(kind: GuestKind): fc.Arbitrary<bigint> {
  const leaf4k = fc.tuple(fc.constantFrom(...DATA_FRAMES), flagsArb(kind)).map(([f, fl]) => encodePte({ ppn: f, ...fl }));
  // An arbitrary guest also maps its own page-table pages (a recursive or direct map), writable.
  const leafOnTable = fc.constantFrom(...PT_FRAMES).map((f) => encodePte({ ppn: f, r: true, w: true, a: true, d: true }));
  return fc.oneof(
    { arbitrary: leaf4k, weight: 5 }, { arbitrary: fc.constant(0n), weight: 1 }, { arbitrary: pteValueArb(kind), weight: 2 },
    ...(kind === 'arbitrary' ? [{ arbitrary: leafOnTable, weight: 1 }] : []),
  );
}

/** Invalid PTE words: zero, and V clear under bits a valid PTE would have. */
const GARBAGE_INVALID: readonly bigint[] = [0n, PTE_G, PTE_R | PTE_W, 0x80010n << 10n];

/** A superpage leaf: 2 MiB frames (aligned or not), and for an arbitrary guest 1 GiB ones (the aligned one maps its page tables too). */
function superpageArb(kind: GuestKind): fc.Arbitrary<bigint> {
  const frames = kind === 'arbitrary' ? [...SUPERPAGE_2M_FRAMES, ...SUPERPAGE_1G_FRAMES] : SUPERPAGE_2M_FRAMES;
  return fc.tuple(fc.constantFrom(...frames), flagsArb(kind)).map(([f, fl]) => encodePte({ ppn: f, ...fl }));
}

function walkTargetArb(kind: GuestKind): fc.Arbitrary<WalkTarget> {
  const g = kind === 'arbitrary' ? fc.integer({ min: 0, max: 3 }).map((n) => n === 0) : fc.constant(false);
  return fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('table' as const), frame: index(PT_FRAMES), g }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('empty-table' as const), n: index(PT_FRAMES) }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('superpage' as const), value: superpageArb(kind) }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('invalid' as const), value: fc.constantFrom(...GARBAGE_INVALID) }), weight: 2 },
  );
}

const idiomFenceArb: fc.Arbitrary<IdiomFence> = fc.constantFrom('none', 'va', 'va-asid', 'x0-asid', 'x0');

/** PTE words with real Sv39 encodings pointing into the pools, and garbage. */
export function pteValueArb(kind: GuestKind): fc.Arbitrary<bigint> {
  const frameIn = (pool: readonly bigint[]) => fc.constantFrom(...pool);
  const pointer = fc.tuple(frameIn(PT_FRAMES), kind === 'arbitrary' ? fc.integer({ min: 0, max: 2 }) : fc.constant(1))
    .map(([f, g]) => encodePte({ ppn: f, g: g === 0 }));
  const leaf4k = fc.tuple(frameIn(DATA_FRAMES), flagsArb(kind)).map(([f, fl]) => encodePte({ ppn: f, ...fl }));
  const superpage2m = fc.tuple(fc.constantFrom(...SUPERPAGE_2M_FRAMES), flagsArb(kind)).map(([f, fl]) => encodePte({ ppn: f, ...fl }));
  const garbageInvalid = fc.constantFrom(...GARBAGE_INVALID);
  if (kind === 'well-behaved') {
    return fc.oneof(
      { arbitrary: pointer, weight: 3 }, { arbitrary: leaf4k, weight: 6 }, { arbitrary: superpage2m, weight: 1 },
      { arbitrary: garbageInvalid, weight: 2 },
    );
  }
  const leafOnTable = fc.tuple(frameIn(PT_FRAMES), flagsArb(kind)).map(([f, fl]) => encodePte({ ppn: f, ...fl }));
  const superpage1g = fc.tuple(fc.constantFrom(...SUPERPAGE_1G_FRAMES), flagsArb(kind)).map(([f, fl]) => encodePte({ ppn: f, ...fl }));
  const reserved = fc.constantFrom(
    PTE_V | PTE_W, // W without R
    encodePte({ ppn: 0x80011n, a: true }), // a pointer with A set (reserved in non-leaf PTEs)
    encodePte({ ppn: 0x80400n, r: true, a: true, d: true }) | (1n << 54n), // a reserved high bit
    encodePte({ ppn: 0x123456n, r: true, w: true, a: true, d: true }), // a leaf outside RAM
    encodePte({ ppn: 0x10n }), // a pointer outside RAM
    PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D, // a leaf on page 0
  );
  return fc.oneof(
    { arbitrary: pointer, weight: 3 }, { arbitrary: leaf4k, weight: 6 }, { arbitrary: leafOnTable, weight: 1 },
    { arbitrary: superpage2m, weight: 1 }, { arbitrary: superpage1g, weight: 1 }, { arbitrary: garbageInvalid, weight: 2 },
    { arbitrary: reserved, weight: 1 }, { arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), weight: 1 },
  );
}

const index = (pool: readonly unknown[]) => fc.integer({ min: 0, max: pool.length - 1 });

/**
 * A PTE slot of a page: mostly one the pool VAs index (a word a walk reads when
 * the page is a table), sometimes any.
 */
const slotArb = fc.oneof(
  { arbitrary: fc.constantFrom(...SLOTS.map(Number)), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: PAGE_WORDS - 1 }), weight: 1 },
);

/**
 * The byte offset of a word in a page: mostly the few common ones (two accesses
 * meet on one word), else a slot the pool VAs index (a store through a mapping of
 * a page-table page lands on a PTE a walk reads), else any word.
 */
const offsetArb: fc.Arbitrary<bigint> = fc.oneof(
  { arbitrary: fc.constantFrom(...OFFSETS), weight: 6 },
  { arbitrary: fc.constantFrom(...SLOTS.map((s) => s * 8n)), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: PAGE_WORDS - 1 }).map((w) => BigInt(w) * 8n), weight: 2 },
);

export function commandArb(kind: GuestKind): fc.Arbitrary<Command> {
  const value = pteValueArb(kind);
  const leafValue = leafValueArb(kind);
  // Now and then VAS.length: the non-canonical address.
  const vaIdx = fc.oneof({ arbitrary: index(VAS), weight: 15 }, { arbitrary: fc.constant(VAS.length), weight: 1 });
  const access = fc.record({
    kind: fc.constant('access' as const), va: vaIdx, offset: offsetArb,
    access: fc.constantFrom<AccessKind>('load', 'load', 'store', 'store', 'fetch'),
    priv: fc.constantFrom<Privilege>('S', 'S', 'S', 'U'),
    value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  });
  const asidArb = kind === 'arbitrary' ? index(ASIDS) : fc.constant(-1);
  return fc.oneof(
    { arbitrary: access, weight: 25 },
    { arbitrary: fc.record({ kind: fc.constant('ptStore' as const), frame: index(PT_FRAMES), slot: index(SLOTS), value }), weight: 5 },
    { arbitrary: fc.record({ kind: fc.constant('retarget' as const), space: fc.oneof(fc.constant('current' as const), index(ROOTS)), va: index(VAS), value: leafValue }), weight: 11 },
    { arbitrary: fc.record({ kind: fc.constant('satp' as const), root: index(ROOTS), asid: asidArb }), weight: 9 },
    {
      arbitrary: fc.record({
        kind: fc.constant('sfence' as const),
        va: fc.option(vaIdx, { nil: null, freq: 3 }),
        asid: fc.oneof(fc.constant(null), fc.constant('current' as const), index(ASIDS)),
      }),
      weight: 11,
    },
    { arbitrary: fc.record({ kind: fc.constant('sum' as const), value: fc.boolean() }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('mxr' as const), value: fc.boolean() }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('freeTable' as const), frame: index(PT_FRAMES) }), weight: 1 },
    {
      arbitrary: fc.record({
        kind: fc.constant('host' as const),
        op: fc.constantFrom('hostRemap' as const, 'hostWriteProtect' as const, 'hostUnprotect' as const),
        frame: index(ALL_FRAMES),
      }),
      weight: 7,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('remapIdiom' as const), va: index(VAS), value: leafValue, fence: idiomFenceArb,
        access: fc.constantFrom<AccessKind>('load', 'store', 'fetch'),
      }),
      weight: 4,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('pointerIdiom' as const), space: fc.oneof({ arbitrary: fc.constant('current' as const), weight: 3 }, { arbitrary: index(ROOTS), weight: 1 }),
        va: index(VAS), used: likely(6), level: fc.constantFrom<1 | 2>(2, 1), target: walkTargetArb(kind), fence: idiomFenceArb,
        access: fc.constantFrom<AccessKind>('load', 'load', 'store', 'fetch'),
      }),
      weight: 5,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('reuseTable' as const), frame: index(PT_FRAMES), va: index(VAS),
        words: fc.array(fc.record({ slot: slotArb, value: fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), value) }), { minLength: 1, maxLength: 2 }),
        relink: fc.constantFrom('parents' as const, 'parents' as const, 'walk' as const, 'later' as const),
        clear: kind === 'arbitrary' ? fc.boolean() : fc.constant(true),
        fenced: kind === 'arbitrary' ? likely(4) : fc.constant(true),
        access: fc.constantFrom<AccessKind>('load', 'store'),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('dirtyLogIdiom' as const), va: index(VAS), offset: offsetArb, value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      }),
      weight: 3,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('agingIdiom' as const), va: index(VAS), clear: fc.constantFrom('a' as const, 'd' as const, 'd' as const, 'ad' as const),
        fence: idiomFenceArb, access: fc.constantFrom<AccessKind>('load', 'store', 'store'), value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      }),
      weight: 7,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant('asidDance' as const), other: index(ROOTS), va: index(VAS), value: leafValue,
        fence: fc.constantFrom('none' as const, 'va-asid' as const, 'x0-asid' as const),
      }),
      weight: 4,
    },
  );
}

/** Programs of up to `maxCommands` commands; `size: 'max'` so lengths spread over the whole range. */
export function programArb(kind: GuestKind, maxCommands: number): fc.Arbitrary<Command[]> {
  return fc.array(commandArb(kind), { minLength: 1, maxLength: maxCommands, size: 'max' });
}

/** What the guest knows of itself: the page-table stores it made, the satp it wrote, and the pages it touched. */
export interface GuestBookkeeping {
  readonly mem: Memory;
  readonly root: number;
  readonly asid: number;
  /** Pool VA indices the program accessed, the latest first, a few: walks a hart or a shadow may still hold. */
  readonly touched: readonly number[];
}

export const bootBookkeeping = (): GuestBookkeeping => ({ mem: bootMemory(), root: 0, asid: BOOT_ASID_OF_ROOT[0] ?? 1, touched: [] });

const TOUCHED_KEPT = 4;
const touching = (g: GuestBookkeeping, i: number): GuestBookkeeping =>
  i >= VAS.length || g.touched[0] === i ? g : { ...g, touched: [i, ...g.touched.filter((t) => t !== i)].slice(0, TOUCHED_KEPT) };

/** The events a program starts with: load the first address space. */
export const bootEvents = (): MachineEvent[] => [
  { kind: 'satp', satp: { mode: 'sv39', asid: BOOT_ASID_OF_ROOT[0] ?? 1, rootPpn: ROOTS[0] ?? 0n } },
];

const at = <T>(pool: readonly T[], i: number): T => {
  const v = pool[i];
  if (v === undefined) throw new RangeError(`pool index ${i} out of range`);
  return v;
};

/** The guest's own walk of `va` from `root`, over its bookkeeping (any valid leaf passes). */
function bookkeepingWalk(mem: Memory, rootPpn: bigint, va: Gva) {
  const read = (_l: Level, a: Gpa): PteRead[] =>
    inRam(guestConfig, a) ? [{ kind: 'pte', pte: readWord(mem, a), fromMemory: true }] : [{ kind: 'access-fault' }];
  return walkSv39(va, rootPpn, { kind: 'load', priv: 'S', sum: true, mxr: true }, read, { svade: false }, () => true)[0];
}

/** The guest page `va` maps to in the guest's own tables, if it maps to RAM. */
export function mappedPage(mem: Memory, rootPpn: bigint, va: Gva): bigint | null {
  const w = bookkeepingWalk(mem, rootPpn, va);
  return w?.kind === 'ok' && inRam(guestConfig, w.pa) ? w.pa >> PAGE_SHIFT : null;
}

/** The PTE the guest's own walk of `va` from `root` reads at `level`, or the one that ends it above that level. */
function pteOnWalk(mem: Memory, rootPpn: bigint, va: Gva, level: Level): Gpa | null {
  const path = bookkeepingWalk(mem, rootPpn, va)?.path ?? [];
  return (path.find((s) => s.level === level) ?? path[path.length - 1])?.pteAddr ?? null;
}

/** The level-0 PTE the guest's own walk of `va` from `root` ends at, and the level-1 PTE above it; null if it ends above. */
function leafSlot(mem: Memory, rootPpn: bigint, va: Gva): { readonly leaf: Gpa; readonly parent: Gpa } | null {
  const path = bookkeepingWalk(mem, rootPpn, va)?.path ?? [];
  const [leaf, parent] = [path.find((s) => s.level === 0), path.find((s) => s.level === 1)];
  return leaf === undefined || parent === undefined ? null : { leaf: leaf.pteAddr, parent: parent.pteAddr };
}

/** Every valid pointer to `frame` in the guest's tables outside it, with its word. */
function pointersTo(mem: Memory, frame: bigint): (readonly [Gpa, bigint])[] {
  return pagesOf(mem).filter(([page]) => page !== frame).flatMap(([page, words]) =>
    [...words].filter(([, w]) => isValidPointer(w) && ptePpn(w) === frame).map(([slot, w]) => [pteAddress(page, BigInt(slot)), w] as const));
}

function targetValue(t: WalkTarget, mem: Memory): bigint {
  return match(t)
    .with({ kind: 'table' }, ({ frame, g }) => encodePte({ ppn: at(PT_FRAMES, frame), g }))
    .with({ kind: 'empty-table' }, ({ n }) => {
      const empty = PT_FRAMES.filter((f) => pageWords(mem, f).size === 0);
      return encodePte({ ppn: empty.length > 0 ? at(empty, n % empty.length) : at(PT_FRAMES, n) });
    })
    .with({ kind: 'superpage' }, { kind: 'invalid' }, ({ value }) => value)
    .exhaustive();
}

const idiomFence = (fence: IdiomFence, va: Gva, asid: number): MachineEvent[] =>
  match(fence)
    .with('none', () => [])
    .with('va', () => [{ kind: 'sfence' as const, rs1: va, rs2: null }])
    .with('va-asid', () => [{ kind: 'sfence' as const, rs1: va, rs2: asid }])
    .with('x0-asid', () => [{ kind: 'sfence' as const, rs1: null, rs2: asid }])
    .with('x0', () => [{ kind: 'sfence' as const, rs1: null, rs2: null }])
    .exhaustive();

/** Where the guest's own walk of `va` from `root` ends: the PTE to change to remap it. */
function terminalPte(mem: Memory, rootPpn: bigint, va: Gva): Gpa | null {
  const w = bookkeepingWalk(mem, rootPpn, va);
  if (w === undefined) return null;
  if (w.kind === 'ok') return w.leafAddr;
  const last = w.path[w.path.length - 1];
  return w.error === 'pte-access-fault' || last === undefined ? null : last.pteAddr;
}

/**
 * Resolve one command into machine events against the guest's bookkeeping. A
 * well-behaved guest follows every page-table store with SFENCE.VMA x0, x0 and
 * uses one ASID per root.
 */
export function resolve(c: Command, g: GuestBookkeeping, kind: GuestKind): { events: MachineEvent[]; g: GuestBookkeeping } {
  const fenceAll: MachineEvent = { kind: 'sfence', rs1: null, rs2: null };
  const store = (addr: Gpa, value: bigint): MachineEvent[] =>
    kind === 'well-behaved' ? [{ kind: 'ptStore', addr, value }, ...eagerFences(g.mem, addr, value)] : [{ kind: 'ptStore', addr, value }];
  const asidFor = (root: number, asid: number): number => (kind === 'well-behaved' || asid < 0 ? at(BOOT_ASID_OF_ROOT, root) : asid);
  const satp = (root: number, asid: number): MachineEvent => ({ kind: 'satp', satp: { mode: 'sv39', asid, rootPpn: at(ROOTS, root) } });
  const vaOf = (i: number): Gva => (i === VAS.length ? NON_CANONICAL : at(VAS, i));
  switch (c.kind) {
    case 'ptStore': {
      const addr = pteAddress(at(PT_FRAMES, c.frame), at(SLOTS, c.slot));
      return { events: store(addr, c.value), g: { ...g, mem: writeWord(g.mem, addr, c.value) } };
    }
    case 'retarget': {
      const root = c.space === 'current' ? g.root : c.space;
      const addr = terminalPte(g.mem, at(ROOTS, root), at(VAS, c.va));
      if (addr === null) return { events: [], g };
      return { events: store(addr, c.value), g: { ...g, mem: writeWord(g.mem, addr, c.value) } };
    }
    case 'access':
      return { events: [{ kind: 'access', va: gva(vaOf(c.va) + c.offset), access: c.access, priv: c.priv, value: c.value }], g: touching(g, c.va) };
    case 'satp': {
      const asid = asidFor(c.root, c.asid < 0 ? -1 : at(ASIDS, c.asid));
      return { events: [satp(c.root, asid)], g: { ...g, root: c.root, asid } };
    }
    case 'sfence': {
      const rs2 = c.asid === null ? null : c.asid === 'current' ? g.asid : at(ASIDS, c.asid);
      return { events: [{ kind: 'sfence', rs1: c.va === null ? null : vaOf(c.va), rs2 }], g };
    }
    case 'sum':
    case 'mxr':
      return { events: [{ kind: c.kind, value: c.value }], g };
    case 'freeTable': {
      const frame = at(PT_FRAMES, c.frame);
      let mem = g.mem;
      const events: MachineEvent[] = [];
      for (const slot of SLOTS) {
        const addr = pteAddress(frame, slot);
        if (readWord(mem, addr) === 0n) continue;
        events.push({ kind: 'ptStore', addr, value: 0n });
        mem = writeWord(mem, addr, 0n);
      }
      if (kind === 'well-behaved' && events.length > 0) events.push(fenceAll); // freeing a table changes pointers
      return { events, g: { ...g, mem } };
    }
    case 'host':
      return { events: [{ kind: c.op, gpn: at(ALL_FRAMES, c.frame) }], g };
    case 'remapIdiom': {
      const target = at(VAS, c.va);
      const touch = (access: AccessKind): MachineEvent => ({ kind: 'access', va: target, access, priv: 'S', value: c.value ^ 0x5an });
      const addr = terminalPte(g.mem, at(ROOTS, g.root), target);
      const after = touching(g, c.va);
      if (addr === null) return { events: [touch('load')], g: after };
      return {
        events: [touch('load'), ...store(addr, c.value), ...idiomFence(c.fence, target, g.asid), touch(c.access)],
        g: { ...after, mem: writeWord(g.mem, addr, c.value) },
      };
    }
    case 'pointerIdiom': {
      const i = c.used && g.touched.length > 0 ? at(g.touched, c.va % g.touched.length) : c.va;
      const target = at(VAS, i);
      const touch = (access: AccessKind): MachineEvent => ({ kind: 'access', va: target, access, priv: 'S', value: 0x5an });
      const after = touching(g, i);
      // A page the program touched needs no first touch to have its walk in use.
      const first = i === c.va && !g.touched.includes(i) ? [touch('load')] : [];
      const addr = pteOnWalk(g.mem, at(ROOTS, c.space === 'current' ? g.root : c.space), target, c.level);
      if (addr === null) return { events: first, g: after };
      const value = targetValue(c.target, g.mem);
      // A well-behaved guest's store already carries its eager fence.
      const fence = kind === 'well-behaved' ? [] : idiomFence(c.fence, target, g.asid);
      return {
        events: [...first, ...store(addr, value), ...fence, touch(c.access)],
        g: { ...after, mem: writeWord(g.mem, addr, value) },
      };
    }
    case 'reuseTable':
      return reuseTable(c, g, kind);
    case 'dirtyLogIdiom': {
      const target = at(VAS, c.va);
      const page = mappedPage(g.mem, at(ROOTS, g.root), target);
      if (page === null) return { events: [], g };
      const after = touching(g, c.va);
      return {
        events: [
          { kind: 'hostWriteProtect', gpn: page },
          { kind: 'access', va: gva(target + c.offset), access: 'store', priv: 'S', value: c.value },
          { kind: 'hostUnprotect', gpn: page },
        ],
        g: after,
      };
    }
    case 'agingIdiom': {
      const target = at(VAS, c.va);
      const touch = (access: AccessKind): MachineEvent => ({ kind: 'access', va: target, access, priv: 'S', value: c.value });
      const w = bookkeepingWalk(g.mem, at(ROOTS, g.root), target);
      const after = touching(g, c.va);
      if (w?.kind !== 'ok') return { events: [touch('store')], g: after };
      // The guest clears the bits in the leaf as it last wrote it: what the hart has set since is cleared too.
      const bits = c.clear === 'a' ? PTE_A : c.clear === 'd' ? PTE_D : PTE_A | PTE_D;
      const value = readWord(g.mem, w.leafAddr) & ~bits;
      const fence = kind === 'well-behaved' ? [] : idiomFence(c.fence, target, g.asid);
      return {
        events: [touch('store'), ...store(w.leafAddr, value), ...fence, touch(c.access)],
        g: { ...after, mem: writeWord(g.mem, w.leafAddr, value) },
      };
    }
    case 'asidDance': {
      if (c.other === g.root) return { events: [], g };
      const home = { root: g.root, asid: g.asid };
      const otherAsid = asidFor(c.other, at(ASIDS, (g.asid % ASIDS.length)));
      const addr = terminalPte(g.mem, at(ROOTS, home.root), at(VAS, c.va));
      const events: MachineEvent[] = [satp(c.other, otherAsid)];
      let mem = g.mem;
      if (addr !== null) {
        events.push(...store(addr, c.value));
        mem = writeWord(mem, addr, c.value);
        if (c.fence === 'va-asid') events.push({ kind: 'sfence', rs1: at(VAS, c.va), rs2: home.asid });
        if (c.fence === 'x0-asid') events.push({ kind: 'sfence', rs1: null, rs2: home.asid });
      }
      events.push(satp(home.root, home.asid));
      events.push({ kind: 'access', va: at(VAS, c.va), access: 'load', priv: 'S', value: 0n });
      return { events, g: { ...touching(g, c.va), mem } };
    }
  }
}

/**
 * A page-table page freed, reused as data and linked back as a table (the
 * `reuseTable` command). Each stage's stores come before its fence with no access
 * between, so one SFENCE.VMA x0, x0 after them is as eager as one after each.
 */
function reuseTable(c: Extract<Command, { kind: 'reuseTable' }>, g: GuestBookkeeping, kind: GuestKind): { events: MachineEvent[]; g: GuestBookkeeping } {
  const careful = kind === 'well-behaved';
  const fenced = careful || c.fenced;
  const rootPpn = at(ROOTS, g.root);
  // A 4 KiB data leaf needs a walk that ends at level 0 (no frame of the pool is a superpage), over tables other than the frame.
  const i = VAS.map((_v, k) => (c.va + k) % VAS.length).find((k) => leafSlot(g.mem, rootPpn, at(VAS, k)) !== null);
  const va = i === undefined ? null : at(VAS, i);
  const slot = va === null ? null : leafSlot(g.mem, rootPpn, va);
  const onWalk = new Set(slot === null ? [] : [rootPpn, slot.parent >> PAGE_SHIFT, slot.leaf >> PAGE_SHIFT]);
  // Never a table of that walk, so freeing the frame leaves the walk whole; a well-behaved guest frees no root, since it may load it again.
  const frames = PT_FRAMES.filter((f) => f !== rootPpn && !onWalk.has(f) && !(careful && ROOTS.includes(f)));
  if (frames.length === 0) return { events: [], g };
  const frame = at(frames, c.frame % frames.length);
  let mem = g.mem;
  const events: MachineEvent[] = [];
  let changed = false;
  const put = (addr: Gpa, value: bigint): void => {
    const next = writeWord(mem, addr, value);
    if (next === mem) return;
    events.push({ kind: 'ptStore', addr, value });
    mem = next;
    changed = true;
  };
  const fenceStage = (): void => {
    if (fenced && changed) events.push({ kind: 'sfence', rs1: null, rs2: null });
    changed = false;
  };

  const parents = pointersTo(mem, frame);
  for (const [addr] of parents) put(addr, 0n);
  for (const slot of [...pageWords(mem, frame).keys()]) put(pteAddress(frame, BigInt(slot)), 0n);
  fenceStage();

  const slots = [...new Set(c.words.map((w) => w.slot))];
  const firstWord = va === null ? null : gva(va + BigInt(at(slots, 0)) * 8n);
  if (va !== null && slot !== null) {
    const oldLeaf = readWord(mem, slot.leaf);
    const dataLeaf = encodePte({ ppn: frame, r: true, w: true, a: true, d: true });
    events.push({ kind: 'ptStore', addr: slot.leaf, value: dataLeaf }, ...(fenced ? eagerFences(mem, slot.leaf, dataLeaf) : []));
    mem = writeWord(mem, slot.leaf, dataLeaf);
    for (const w of c.words) events.push({ kind: 'access', va: gva(va + BigInt(w.slot) * 8n), access: 'store', priv: 'S', value: w.value });
    if (careful || c.clear) {
      // The words are data, not in the guest's record of its page-table stores: each is cleared whatever that record says.
      for (const s of slots) events.push({ kind: 'ptStore', addr: pteAddress(frame, BigInt(s)), value: 0n });
      put(slot.leaf, oldLeaf);
    }
  }
  if (c.relink === 'parents' && parents.length > 0) for (const [addr, word] of parents) put(addr, word);
  else if (c.relink !== 'later' && slot !== null) put(slot.parent, encodePte({ ppn: frame }));
  fenceStage();
  if (firstWord !== null) events.push({ kind: 'access', va: firstWord, access: c.access, priv: 'S', value: 0xa5n });
  return { events, g: { ...(i === undefined ? g : touching(g, i)), mem } };
}

/**
 * The fences a well-behaved guest issues after storing `value` at `addr`: a
 * pointer change (old or new value a valid pointer) needs SFENCE.VMA with rs1=x0;
 * a leaf change needs SFENCE.VMA va, x0 for each virtual address whose walk ends at
 * that PTE in some address space (and none if no walk reaches it: every earlier
 * pointer change flushed everything).
 */
function eagerFences(mem: Memory, addr: Gpa, value: bigint): MachineEvent[] {
  if (isValidPointer(readWord(mem, addr)) || isValidPointer(value)) return [{ kind: 'sfence', rs1: null, rs2: null }];
  const vas = VAS.filter((va) => ROOTS.some((root) => terminalPte(mem, root, va) === addr));
  return vas.map((va) => ({ kind: 'sfence', rs1: va, rs2: null }));
}

/** The first `n` programs a seed draws for a guest kind, resolved: fixed programs for tests and benchmarks. */
export function samplePrograms(kind: GuestKind, n: number, seed: number, maxCommands = 50): MachineEvent[][] {
  return fc.sample(programArb(kind, maxCommands), { seed, numRuns: n }).map((p) => resolveProgram(p, kind));
}

/** Resolve a whole program, boot events first. */
export function resolveProgram(program: readonly Command[], kind: GuestKind): MachineEvent[] {
  let g = bootBookkeeping();
  const events: MachineEvent[] = bootEvents();
  for (const c of program) {
    const r = resolve(c, g, kind);
    events.push(...r.events);
    g = r.g;
  }
  return events;
}

export function describeCommand(c: Command): string {
  return JSON.stringify(c, (_k, v: unknown) => (typeof v === 'bigint' ? hex(v) : v));
}
