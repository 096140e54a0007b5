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
 */
import { enableMapSet, produce } from 'immer';
import { type Gpa, type Hpa, PAGE_SHIFT, hpa } from '../spec/address.ts';
import { type GuestConfig, inRam } from '../spec/config.ts';
import { type Memory, emptyMemory, pageWords, pagesOf, readWord, writePage, writeWord } from '../spec/memory.ts';

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
}

/** At boot, guest page g is backed by host frame g + BOOT_OFFSET; remapped pages get frames from FREE_BASE on. */
enableMapSet();

const BOOT_OFFSET = 0x100000n;
const FREE_BASE = 0x400000n;

const bootFrame = (gpn: bigint): bigint => gpn + BOOT_OFFSET;

export function initialHost(cfg: GuestConfig, guestMem: Memory): HostState {
  let mem: Memory = emptyMemory;
  for (const [gpn, words] of pagesOf(guestMem)) mem = writePage(mem, bootFrame(gpn), words);
  return { cfg, mem, p2m: new Map(), backs: new Map(), nextFreeFrame: FREE_BASE, dirty: new Set() };
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

function setMapping(h: HostState, gpn: bigint, m: HostMapping): HostState {
  return produce(h, (d) => {
    const old = hostMapping(h, gpn);
    d.backs.delete(old.hpn);
    if (m.hpn === bootFrame(gpn) && !m.writeProtected) d.p2m.delete(gpn);
    else d.p2m.set(gpn, m);
    if (m.hpn !== bootFrame(gpn)) d.backs.set(m.hpn, gpn);
  });
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
  const logged = produce(h, (d) => {
    d.dirty.add(gpn);
  });
  return setWriteProtected(logged, gpn, false);
}
