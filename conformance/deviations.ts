/**
 * Where QEMU 7.2 deviates from the privileged spec. The reference is not bent to
 * them: a disagreement that one of these explains is counted and reported as an
 * explained deviation, with its source; any other disagreement fails the run.
 */
export interface Deviation {
  readonly id: string;
  readonly description: string;
  /** Where the deviation is documented (the upstream fix). */
  readonly source: string;
}

export const DEVIATIONS = {
  vsSatpVtvm: {
    id: 'qemu72-vs-satp-ignores-vtvm',
    description: 'a VS-mode satp (vsatp) access with hstatus.VTVM=1 does not trap (the spec: virtual-instruction, cause 22)',
    source: 'QEMU target/riscv/csr.c satp predicate before the 2023 fix "target/riscv: fix H extension TVM trap"',
  },
  vsHonoursTvm: {
    id: 'qemu72-vs-honours-mstatus-tvm',
    description: 'in VS-mode, satp accesses and SFENCE.VMA with mstatus.TVM=1 raise illegal-instruction (the spec: TVM acts only in HS-mode)',
    source: 'same fix as above (QEMU checked mstatus.TVM regardless of V)',
  },
  hgatpIgnoresTvm: {
    id: 'qemu72-hgatp-ignores-tvm',
    description: 'an HS-mode hgatp access with mstatus.TVM=1 is allowed (the spec: illegal-instruction)',
    source: 'same fix as above',
  },
  vuSupervisorIllegal: {
    id: 'qemu72-vu-supervisor-illegal',
    description: 'in VU-mode, SFENCE.VMA, HFENCE.* and satp accesses raise illegal-instruction (the spec: virtual-instruction, cause 22)',
    source: 'QEMU target/riscv/op_helper.c and csr.c: virtual-instruction only for hypervisor-level CSRs until the 2023/2025 fixes',
  },
  implicitPteFaultAsLoad: {
    id: 'qemu72-gstage-fault-on-vs-pte-reported-as-load',
    description: 'a G-stage fault on the implicit read of a VS-stage PTE is reported as a load guest-page fault (21) whatever the original access (the spec: 20 for a fetch, 23 for a store)',
    source: 'QEMU target/riscv/cpu_helper.c get_physical_address (access_type = MMU_DATA_LOAD), removed upstream in June 2023',
  },
  vsAdUpdateNoGstageCheck: {
    id: 'qemu72-vs-ad-update-skips-gstage-write-check',
    description: 'a hardware A/D update of a VS-stage PTE does not check G-stage write permission (the spec: an implicit store, guest-page fault 23 if not writable)',
    source: 'QEMU target/riscv/cpu_helper.c get_physical_address: the update is a compare-and-swap on the host address',
  },
  mxrStages: {
    id: 'qemu72-mxr-per-stage',
    description: 'the HS-level mstatus.MXR does not make execute-only pages readable in the VS-stage, and the G-stage\'s MXR follows the wrong copy of sstatus (the spec: HS-level MXR applies to both stages, vsstatus.MXR to the VS-stage)',
    source: 'QEMU target/riscv/cpu_helper.c get_physical_address (mxr from env->mstatus, swapped with vsstatus while V=1), fixed upstream in 2024',
  },
  vsDelegatedCauseMinusOne: {
    id: 'qemu72-vs-delegated-exception-cause-minus-one',
    description: 'an illegal-instruction exception (cause 2) delegated to VS-mode is reported as cause 1: QEMU applies the VS-interrupt cause adjustment (VSSIP 2 -> SSIP 1) to synchronous exceptions too',
    source: 'QEMU target/riscv/cpu_helper.c riscv_cpu_do_interrupt: "cause = cause - 1" for IRQ_VS_SOFT/TIMER/EXT, not guarded by async',
  },
  sExecUserPageFromTlb: {
    id: 'qemu72-s-mode-executes-user-page-after-load',
    description: 'after an S-mode load of a U page (SUM=1) fills QEMU\'s TLB, an S-mode fetch from that page succeeds (the spec: S-mode never executes from a U page, whatever SUM)',
    source: 'QEMU target/riscv/cpu_helper.c get_physical_address: the U check uses only the access that filled the TLB, and PAGE_EXEC is granted from X alone',
  },
} as const satisfies Record<string, Deviation>;

export type DeviationId = keyof typeof DEVIATIONS;
