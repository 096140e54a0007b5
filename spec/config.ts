/**
 * The guest machine every model presents and the reference describes
 * (decision record 0002). One VM, one hart.
 */
import { PAGE_SHIFT } from './address.ts';

export interface GuestConfig {
  /** First guest-physical page number of RAM. PTE reads and accesses outside RAM give access faults. */
  readonly ramBasePage: bigint;
  /** RAM size in pages. */
  readonly ramPages: bigint;
  /** Implemented ASID bits (satp.ASID is WARL; fences ignore higher bits). */
  readonly asidLen: number;
  /** Svade: A/D clear raises a page fault (true), or hardware updates A/D (false: Svadu). */
  readonly svade: boolean;
  /**
   * Choice 3 of docs/decisions/0006: walks begun under an earlier satp may go on
   * and cache what they read after a satp write or a switch to Bare. Default false.
   */
  readonly walksInFlight: boolean;
}

/** 8 MiB of RAM at 0x8000_0000, ASIDLEN 16, Svade: the machine of the litmus suite and of the models. */
export const defaultGuestConfig: GuestConfig = {
  ramBasePage: 0x80000n,
  ramPages: 2048n,
  asidLen: 16,
  svade: true,
  walksInFlight: false,
};

/** PMA check of the guest machine: is this guest-physical address in RAM? */
export function inRam(cfg: GuestConfig, addr: bigint): boolean {
  const page = addr >> PAGE_SHIFT;
  return page >= cfg.ramBasePage && page < cfg.ramBasePage + cfg.ramPages;
}

export const maskAsid = (cfg: GuestConfig, asid: number): number => asid & ((1 << cfg.asidLen) - 1);
