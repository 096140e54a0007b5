/**
 * The hypervisor's side of guest memory, shared by all three models: which host
 * frame backs each guest-physical page (the p2m), which guest pages the host
 * keeps write-protected, and the dirty log that write protection feeds.
 *
 * Host events: the hypervisor moves a guest page to another host frame (swap,
 * migration: `hostRemap`); write-protects a guest page (dirty logging,
 * copy-on-write, page sharing: `hostWriteProtect`) and gives write access back
 * (`hostUnprotect`). The guest must not see any of them, and no guest store may
 * reach a write-protected frame without the hypervisor seeing it.
 *
 * The hypervisor's own page tables (shadow tables, the G-stage table) live in host
 * memory too, in frames of a pool that backs no guest page (decision record 0009).
 */
import { enableMapSet, produce } from 'immer';
import { type Gpa, type Hpa, PAGE_SHIFT, hpa } from '../spec/address.ts';
import { type GuestConfig, inRam } from '../spec/config.ts';
import { type Memory, emptyMemory, movePages, pageWords, pagesOf, readWord, writePage, writeWord } from '../spec/memory.ts';

export type HostEvent =
  | { readonly kind: 'hostRemap'; readonly gpn: bigint }
  | { readonly kind: 'hostWriteProtect'; readonly gpn: bigint }
  | { readonly kind: 'hostUnprotect'; readonly gpn: bigint };

export interface HostMapping {
  readonly hpn: bigint;
  readonly writeProtected: boolean;
}

export interface HostState {
  readonly cfg: GuestConfig;
  /** Host-physical memory, guest RAM and the hypervisor's own frames alike. */
  readonly mem: Memory;
  /** Guest pages whose backing differs from the boot layout (`bootFrame`). */
  readonly p2m: ReadonlyMap<bigint, HostMapping>;
  /** Inverse of p2m for the frames in it. */
  readonly backs: ReadonlyMap<bigint, bigint>;
  readonly nextFreeFrame: bigint;
  /** Guest pages stored to while write-protected: what dirty logging reports. */
  readonly dirty: ReadonlySet<bigint>;
  /** Frames of the table pool that are free, the next one to allocate last: a frame freed is the first reused. */
  readonly freeTableFrames: readonly bigint[];
  /** Frames holding hypervisor page tables now. */
  readonly tableFrames: ReadonlySet<bigint>;
}

/** At boot, guest page g is backed by host frame g + BOOT_OFFSET; remapped pages get frames from FREE_BASE on. */
enableMapSet();

const BOOT_OFFSET = 0x100000n;
const FREE_BASE = 0x400000n;
/** The hypervisor's table pool: frames from here on back no guest page (decision record 0009). */
export const TABLE_POOL_BASE = 0x300000n;
/** Its size: enough for a few shadows of the generators' address spaces, small enough that they must be reclaimed. */
export const TABLE_POOL_FRAMES = 12;

export const bootFrame = (gpn: bigint): bigint => gpn + BOOT_OFFSET;

/** `tablePoolBase` is a parameter only so that a seeded bug can misplace the pool (model/variants.ts). */
export function initialHost(cfg: GuestConfig, guestMem: Memory, tablePoolBase = TABLE_POOL_BASE): HostState {
  // Guest page g is backed by frame bootFrame(g) = g + BOOT_OFFSET: the guest's memory, every page moved up.
  const mem = movePages(guestMem, BOOT_OFFSET);
  const pool = Array.from({ length: TABLE_POOL_FRAMES }, (_v, i) => tablePoolBase + BigInt(TABLE_POOL_FRAMES - 1 - i));
  return { cfg, mem, p2m: new Map(), backs: new Map(), nextFreeFrame: FREE_BASE, dirty: new Set(), freeTableFrames: pool, tableFrames: new Set() };
}

/**
 * Take `count` contiguous frames of the table pool, the first aligned to `count`
 * frames (a G-stage root is 16 KiB, 16 KiB-aligned), cleared as the hypervisor
 * clears a page before it uses it as a table; null if the pool has no such run.
 */
export function allocTableFrames(h: HostState, count = 1): { host: HostState; frame: bigint } | null {
  const free = new Set(h.freeTableFrames);
  const fits = (f: bigint) => f % BigInt(count) === 0n && Array.from({ length: count }, (_v, i) => f + BigInt(i)).every((g) => free.has(g));
  const frame = count === 1 ? h.freeTableFrames.at(-1) : [...free].sort((a, b) => (a < b ? -1 : 1)).find(fits);
  if (frame === undefined) return null;
  const taken = new Set(Array.from({ length: count }, (_v, i) => frame + BigInt(i)));
  let mem = h.mem;
  for (const f of taken) mem = writePage(mem, f, new Map());
  return {
    host: { ...h, mem, freeTableFrames: h.freeTableFrames.filter((f) => !taken.has(f)), tableFrames: new Set([...h.tableFrames, ...taken]) },
    frame,
  };
}

/** Give a table frame back to the pool (its contents stay until it is allocated again, as in real memory). */
export function freeTableFrame(h: HostState, frame: bigint): HostState {
  const tableFrames = new Set(h.tableFrames);
  tableFrames.delete(frame);
  return { ...h, tableFrames, freeTableFrames: [...h.freeTableFrames, frame] };
}

/** The p2m entry of a guest RAM page. */
export function hostMapping(h: HostState, gpn: bigint): HostMapping {
  return h.p2m.get(gpn) ?? { hpn: bootFrame(gpn), writeProtected: false };
}

/** Which guest page host frame `hpn` backs now, or null: a frame outside the guest's memory. */
export function guestPageOf(h: HostState, hpn: bigint): bigint | null {
  const remapped = h.backs.get(hpn);
  if (remapped !== undefined) return remapped;
  const gpn = hpn - BOOT_OFFSET;
  if (!inRam(h.cfg, gpn << PAGE_SHIFT)) return null;
  return h.p2m.has(gpn) && hostMapping(h, gpn).hpn !== hpn ? null : gpn;
}

export function hostAddress(h: HostState, a: Gpa): Hpa {
  return hpa((hostMapping(h, a >> PAGE_SHIFT).hpn << PAGE_SHIFT) | (a & 0xfffn));
}

/** The guest's view of its memory: the word at a guest-physical address, through the p2m. */
export const guestRead = (h: HostState, a: Gpa): bigint => readWord(h.mem, hostAddress(h, a));

/** A store the hypervisor makes on the guest's behalf (an emulated store), or the hardware's once translated. */
export function hostStore(h: HostState, a: Hpa, value: bigint): HostState {
  return { ...h, mem: writeWord(h.mem, a, value) };
}

/*
 * The drafts below cover only the p2m, its inverse and the dirty log, never the whole
 * HostState: immer freezes what it returns deeply, and over `mem` that would walk
 * every populated page of guest memory, making a host event cost grow with it.
 */
function setMapping(h: HostState, gpn: bigint, m: HostMapping): HostState {
  const maps = produce({ p2m: h.p2m, backs: h.backs }, (d) => {
    const old = hostMapping(h, gpn);
    d.backs.delete(old.hpn);
    if (m.hpn === bootFrame(gpn) && !m.writeProtected) d.p2m.delete(gpn);
    else d.p2m.set(gpn, m);
    if (m.hpn !== bootFrame(gpn)) d.backs.set(m.hpn, gpn);
  });
  return { ...h, ...maps };
}

/** The guest's memory as it sees it: every page backed for it, read through the p2m. */
export function guestMemoryView(h: HostState): Memory {
  const pages = new Set<bigint>(h.backs.values());
  for (const [hpn] of pagesOf(h.mem)) {
    const gpn = guestPageOf(h, hpn);
    if (gpn !== null) pages.add(gpn);
  }
  let mem: Memory = emptyMemory;
  for (const gpn of [...pages].sort((a, b) => (a < b ? -1 : 1))) {
    const words = pageWords(h.mem, hostMapping(h, gpn).hpn);
    if (words.size > 0) mem = writePage(mem, gpn, words);
  }
  return mem;
}

/** Move guest page `gpn` to a fresh host frame: copy it, repoint the p2m. The old frame keeps its stale contents. */
export function remapPage(h: HostState, gpn: bigint): HostState {
  const old = hostMapping(h, gpn);
  const fresh = h.nextFreeFrame;
  const moved = { ...h, mem: writePage(h.mem, fresh, pageWords(h.mem, old.hpn)), nextFreeFrame: fresh + 1n };
  return setMapping(moved, gpn, { hpn: fresh, writeProtected: old.writeProtected });
}

export function setWriteProtected(h: HostState, gpn: bigint, writeProtected: boolean): HostState {
  return setMapping(h, gpn, { ...hostMapping(h, gpn), writeProtected });
}

/** Dirty logging: a store hit a write-protected page; log it and give write access back. */
export function logDirty(h: HostState, gpn: bigint): HostState {
  const dirty = produce(h.dirty, (d) => {
    d.add(gpn);
  });
  return setWriteProtected({ ...h, dirty }, gpn, false);
}
