/**
 * What every model is: a pure state machine. A step takes the machine state and
 * one guest action or host event and returns the next state, what the guest saw,
 * the traps it took, and what the hypervisor did (as data: nothing is executed
 * inside). The properties look inside through the `MachineView`.
 */
import type { Gpa, Gva, Hpa, Level } from '../spec/address.ts';
import type { GuestConfig } from '../spec/config.ts';
import type { GuestAction, Satp } from '../spec/guest-action.ts';
import type { Memory } from '../spec/memory.ts';
import type { Delegation, Trap } from '../spec/privilege.ts';
import type { HostEvent, HostState } from './host.ts';

export type MachineEvent = GuestAction | HostEvent;

/** Thrown by a step that cannot complete: a fault the hypervisor resolves recurs forever, and the guest hangs. */
export class LivelockError extends Error {}
export type ModelName = 'npt' | 'tsp' | 'ssp';

/** What the guest sees of an access: the host word it reached and the value (loaded, or stored), or a trap delivered to it. */
export type Observation =
  | { readonly kind: 'ok'; readonly hpa: Hpa; readonly value: bigint }
  | { readonly kind: 'fault'; readonly cause: number; readonly tval: Gva };

/** Things a hypervisor did that the guest must not notice, counted for the event floors and the cost comparison. */
export type ModelEvent =
  | 'hidden-fault'
  | 'injected-fault'
  | 'shadow-resync'
  | 'shadow-zap'
  | 'hw-tlb-flush'
  | 'buffer-hit'
  | 'buffer-miss'
  | 'dirty-logged'
  | 'write-protect-applied';

export interface StepResult<S> {
  readonly state: S;
  /** Non-null exactly for accesses. */
  readonly observation: Observation | null;
  readonly traps: readonly Trap[];
  readonly events: readonly ModelEvent[];
  /** Page-walk memory references the hardware made (the cost of TLB misses). */
  readonly walkRefs: number;
}

/** A shadow leaf as the hardware uses it, with the guest walk it was built from (ghost state, for the properties). */
export interface ShadowLeaf {
  readonly hpn: bigint;
  readonly r: boolean;
  readonly w: boolean;
  readonly x: boolean;
  readonly u: boolean;
  readonly g: boolean;
  /** The guest-physical page the guest walk gave. */
  readonly gpn: bigint;
  /** The level of the guest leaf: the superpage an rs1=va fence covers. */
  readonly guestLevel: Level;
  /** The guest walk it was synchronised from: every step-2 read, root first. */
  readonly guestPath: readonly { readonly level: Level; readonly pteAddr: Gpa; readonly pte: bigint }[];
}

/** A valid shadow leaf, where it sits (for the justified-shadow property). */
export interface ShadowLeafView extends ShadowLeaf {
  /** The shadow it belongs to (guest root, and ASID when the shadow is keyed by it). */
  readonly shadow: string;
  readonly loaded: boolean;
  /** The ASID the shadow runs under (the tag its hardware TLB entries get). */
  readonly asid: number;
  readonly va: Gva;
}

/** A hardware TLB entry that ends in a host frame, as the isolation property sees it. */
export interface HostTranslationView {
  readonly what: string;
  /** The guest-physical page the entry claims to map, and the host frame it maps it to. */
  readonly gpn: bigint;
  readonly hpn: bigint;
}

export interface MachineView<S> {
  readonly host: (s: S) => HostState;
  /** What a guest read of satp returns. */
  readonly guestSatp: (s: S) => Satp;
  /** Valid shadow leaves, for shadow-paging models; empty for NPT. */
  readonly shadowLeaves: (s: S) => readonly ShadowLeafView[];
  /** Every cached translation in hardware that names a host frame, with the guest page it claims to back. */
  readonly hostTranslations: (s: S) => readonly HostTranslationView[];
  /** Guest pages the hypervisor keeps write-protected as page-table pages (TSP). */
  readonly protectedPageTables: (s: S) => ReadonlySet<bigint>;
  /**
   * The hypervisor's translation structures and the hart's TLB as plain data
   * (strings, booleans, bigints, arrays and records), for counterexample traces.
   */
  readonly snapshot: (s: S) => MachineSnapshot;
}

/** Plain data a trace can hold. */
export type SnapshotValue = string | boolean | bigint | readonly SnapshotValue[] | { readonly [k: string]: SnapshotValue };

export interface MachineSnapshot {
  /** Shadow leaves (TSP, SSP) or the G-stage mappings that differ from boot (NPT), by name. */
  readonly tables: { readonly [k: string]: SnapshotValue };
  /** The hart's cached translations, one line each. */
  readonly tlb: readonly string[];
}

export interface Machine<S> {
  readonly name: ModelName;
  readonly title: string;
  /** The trap delegation it runs the guest under (spec/privilege.ts), and hstatus.VTVM. */
  readonly delegation: Delegation;
  readonly vtvm: boolean;
  readonly init: (cfg: GuestConfig, guestMemory: Memory) => S;
  readonly step: (s: S, e: MachineEvent) => StepResult<S>;
  readonly view: MachineView<S>;
}

/** A machine whose state type is hidden: what the property runner and the CLI hold. */
export type AnyMachine = Machine<unknown>;
export const erase = <S>(m: Machine<S>): AnyMachine => m as unknown as AnyMachine;
