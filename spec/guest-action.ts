/**
 * What a guest hart does, with every operand resolved to an address or a value:
 * the instructions whose effect on translation the reference describes. A guest
 * program is a list of these (and of host events, model/host-event.ts).
 */
import type { Gpa, Gva } from './address.ts';
import type { AccessKind, Privilege } from './walk.ts';

/** satp (vsatp for a guest in VS-mode): MODE, ASID and the root's physical page number. */
export type Satp =
  | { readonly mode: 'bare' }
  | { readonly mode: 'sv39'; readonly asid: number; readonly rootPpn: bigint };

export type GuestAction =
  /** The guest kernel stores a PTE word through its direct map (a physical store in the guest's terms). */
  | { readonly kind: 'ptStore'; readonly addr: Gpa; readonly value: bigint }
  /** A translated load, store or instruction fetch of one aligned 8-byte word. */
  | { readonly kind: 'access'; readonly va: Gva; readonly access: AccessKind; readonly priv: Privilege; readonly value: bigint }
  /** A write of satp: a context switch. */
  | { readonly kind: 'satp'; readonly satp: Satp }
  /** SFENCE.VMA rs1, rs2: null stands for the register x0. */
  | { readonly kind: 'sfence'; readonly rs1: Gva | null; readonly rs2: number | null }
  /** sstatus.SUM or sstatus.MXR written. */
  | { readonly kind: 'sum'; readonly value: boolean }
  | { readonly kind: 'mxr'; readonly value: boolean };

export type AccessAction = Extract<GuestAction, { kind: 'access' }>;

/** The guest-visible result of an access: the guest-physical word it reached, or a trap delivered to the guest. */
export type Outcome =
  | { readonly kind: 'ok'; readonly pa: Gpa; readonly adUpdate: { readonly addr: Gpa; readonly pte: bigint } | null }
  | {
      readonly kind: 'fault';
      readonly cause: number;
      readonly tval: Gva;
      /** Svadu: a translation that set A/D before its physical address failed the PMA check. */
      readonly adUpdate?: { readonly addr: Gpa; readonly pte: bigint };
    };

/**
 * The memory writes an access with outcome `o` makes, in order: the A/D update of
 * its translation (step 7, Svadu), then the store itself.
 */
export function outcomeWrites(a: AccessAction, o: Outcome): [Gpa, bigint][] {
  const writes: [Gpa, bigint][] = [];
  if (o.adUpdate !== null && o.adUpdate !== undefined) writes.push([o.adUpdate.addr, o.adUpdate.pte]);
  if (o.kind === 'ok' && a.access === 'store') writes.push([o.pa, a.value]);
  return writes;
}

export function outcomeKey(o: Outcome): string {
  const ad = o.adUpdate === null || o.adUpdate === undefined ? '' : ` A/D@0x${o.adUpdate.addr.toString(16)}=0x${o.adUpdate.pte.toString(16)}`;
  if (o.kind === 'fault') return `fault ${o.cause} tval=0x${o.tval.toString(16)}${ad}`;
  return `ok pa=0x${o.pa.toString(16)}${ad}`;
}

export function describeAction(a: GuestAction): string {
  const h = (x: bigint) => `0x${x.toString(16)}`;
  switch (a.kind) {
    case 'ptStore': return `pt-store [${h(a.addr)}] <- ${h(a.value)}`;
    case 'access': return `${a.access} ${h(a.va)} (${a.priv}-mode)${a.access === 'store' ? ` <- ${h(a.value)}` : ''}`;
    case 'satp': return a.satp.mode === 'bare' ? 'satp <- Bare' : `satp <- Sv39 asid=${a.satp.asid} root=${h(a.satp.rootPpn)}`;
    case 'sfence': return `sfence.vma ${a.rs1 === null ? 'x0' : h(a.rs1)}, ${a.rs2 === null ? 'x0' : `asid ${a.rs2}`}`;
    case 'sum': return `sstatus.SUM <- ${a.value ? 1 : 0}`;
    case 'mxr': return `sstatus.MXR <- ${a.value ? 1 : 0}`;
  }
}
