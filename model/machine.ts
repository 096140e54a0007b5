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
import type { GLookup, Hgatp } from '../spec/two-stage.ts';
import type { AccessContext } from '../spec/walk.ts';
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
  /** Svadu: the hypervisor set A or D in a guest PTE for the guest's hart (shadow paging). */
  | 'ad-emulated'
  | 'shadow-resync'
  | 'shadow-zap'
  | 'hw-tlb-flush'
  | 'buffer-hit'
  | 'buffer-miss'
  | 'dirty-logged'
  | 'write-protect-applied'
  | 'write-access-restored'
  | 'shadow-page-alloc'
  | 'shadow-page-free'
  | 'shadow-reclaim'
  | 'gstage-split'
  | 'gstage-collapse';

/**
 * What the hart itself did in a step, in order, for the hart-legality property:
 * each translation with its result, each fence it was given, and with each the host
 * memory as it was then (an immutable value: its tables are what the hart walked).
 * The VS-stage of a shadow design walks the shadow (vsatp holds the shadow root,
 * hgatp is Bare); nested paging reports its G-stage lookups.
 */
export type HartEvent =
  | {
      readonly kind: 'vs-translate';
      readonly mem: Memory;
      readonly vsatp: { readonly asid: number; readonly root: bigint };
      readonly va: Gva;
      readonly ctx: AccessContext;
      readonly result: { readonly kind: 'ok'; readonly hpa: Hpa } | { readonly kind: 'fault'; readonly cause: number };
    }
  | {
      readonly kind: 'hfence-vvma'; readonly mem: Memory; readonly rs1: Gva | null; readonly rs2: number | null;
      /**
       * Set when the fence forwards the guest's own SFENCE.VMA (or its part of an SBI remote fence) to this hart:
       * an obligation of this hart alone. Unset, it pays for a change to the shadow tables, which every hart
       * sharing them may cache (model/vcpus.ts, docs/decisions/0015).
       */
      readonly forGuestFence?: true;
    }
  | { readonly kind: 'g-lookup'; readonly mem: Memory; readonly hgatp: Hgatp; readonly lookup: GLookup }
  | { readonly kind: 'hfence-gvma'; readonly mem: Memory; readonly rs1: Gpa | null; readonly rs2: number | null };

export interface StepResult<S> {
  readonly state: S;
  /** Non-null exactly for accesses. */
  readonly observation: Observation | null;
  readonly traps: readonly Trap[];
  readonly events: readonly ModelEvent[];
  /** Page-walk memory references the hardware made (the cost of TLB misses). */
  readonly walkRefs: number;
  /** What the hart did, for the hart-legality property. */
  readonly hart: readonly HartEvent[];
}

/** A shadow leaf as the hart uses it, where it sits, and the guest walk it was built from (ghost state, for the properties). */
export interface ShadowLeafView {
  /** The shadow it belongs to (its buffer key: guest root, and ASID when shadows are keyed by it). */
  readonly shadow: string;
  readonly loaded: boolean;
  /** The ASID the shadow's translations are tagged with (-1 for a design whose shadows carry no tag). */
  readonly asid: number;
  /** The first virtual address it maps. */
  readonly va: Gva;
  /** The first host frame it maps, and how many pages (1, or 512 for a 2 MiB shadow superpage). */
  readonly hpn: bigint;
  readonly pages: bigint;
  /** The shadow leaf's level. */
  readonly level: Level;
  readonly r: boolean;
  readonly w: boolean;
  readonly x: boolean;
  readonly u: boolean;
  /** Global as the hart sees it: a G bit on the leaf or on a shadow pointer above it. */
  readonly g: boolean;
  /** The first guest-physical page the guest walk gave. */
  readonly gpn: bigint;
  /** The level of the guest leaf: the superpage an rs1=va fence covers. */
  readonly guestLevel: Level;
  /** The guest walk it was synchronised from: every step-2 read, root first. */
  readonly guestPath: readonly { readonly level: Level; readonly pteAddr: Gpa; readonly pte: bigint }[];
}

/** One shadow page as the hypervisor keeps it (TSP, SSP): its role, its state, and its entries with the guest PTEs they mirror. */
export interface ShadowPageView {
  readonly frame: bigint;
  readonly level: Level;
  /** vpn[2..level+1] of the virtual addresses it translates (0 for a root). */
  readonly prefix: bigint;
  readonly tag: number | 'global' | null;
  readonly source:
    | { readonly kind: 'table'; readonly gfn: bigint }
    | { readonly kind: 'split'; readonly leafAddr: Gpa; readonly leaf: bigint; readonly leafLevel: Level };
  readonly unsync: boolean;
  /** Shadow pointers naming it, plus one while it is a root in the buffer. */
  readonly links: number;
  /** Its present entries: the shadow PTE and the guest PTE it was built from. */
  readonly entries: readonly { readonly slot: number; readonly pte: bigint; readonly guestPteAddr: Gpa; readonly guestPte: bigint }[];
}

/** A hardware TLB entry that ends in a host frame, as the isolation property sees it. */
export interface HostTranslationView {
  readonly what: string;
  /** The first guest-physical page the entry claims to map, the host frame it maps it to, and how many pages follow. */
  readonly gpn: bigint;
  readonly hpn: bigint;
  readonly pages: bigint;
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
  /** Host frames that hold the hypervisor's own page tables (shadow or G-stage). */
  readonly tableFrames: (s: S) => ReadonlySet<bigint>;
  /** Every shadow page (TSP, SSP; empty for NPT). */
  readonly shadowPages: (s: S) => readonly ShadowPageView[];
  /** The shadows in the buffer (key: root frame) and the key of the loaded one. */
  readonly shadowRoots: (s: S) => { readonly roots: ReadonlyMap<string, bigint>; readonly loaded: string | null };
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
