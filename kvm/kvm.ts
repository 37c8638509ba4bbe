import { checkGuestState, readControlCaps, VmxControlCaps } from '../arch/controls';
import { CpuFault, generalProtection } from '../arch/fault';
import { PhysicalMemory } from '../arch/memory';
import * as M from '../arch/msr';
import { VmxPlatform } from '../arch/platform';
import { VMCS } from '../arch/vmcs-fields';
import { Vmcs } from '../arch/vmcs';
import * as C from '../arch/vmx-constants';
import { VmxOperation, VmxStatus } from '../arch/vmx-operation';
import { DeliveryPolicy } from './delivery';
import { hasBrokenPreemptionTimer } from './errata';
import { GuestApic } from './guest-apic';
import { EMULATED_TIMER_RATE, nestedCapabilityMsrs } from './nested-caps';
import { Rng } from './rng';

/** How a level gets out of the nested guest before it runs an instruction. */
export type ImmediateExitStrategy = 'self-ipi' | 'preemption-timer' | 'kvm';

/** Cycles this level's own work costs, spent on the platform below (so they compound with depth). */
export interface KvmCosts {
  /** A VMREAD/VMWRITE of the guest hypervisor, served from a shadow VMCS without an exit. */
  readonly shadowVmcsAccess: number;
  /** An exit of the guest hypervisor for another VMX instruction, its emulation and the re-entry. */
  readonly emulatedVmxInstruction: number;
  /** Emulating VMLAUNCH/VMRESUME: exit, checks of vmcs12, building vmcs02. */
  readonly nestedVmentry: number;
  /** A nested VM exit: syncing vmcs12 and resuming the guest hypervisor. */
  readonly nestedVmexit: number;
  /** Handling an exit of the nested guest at this level (HLT, WBINVD, interrupts). */
  readonly handleExit: number;
}

export const DEFAULT_KVM_COSTS: KvmCosts = {
  shadowVmcsAccess: 30,
  emulatedVmxInstruction: 1_500,
  nestedVmentry: 2_500,
  nestedVmexit: 2_000,
  handleExit: 600,
};

export interface KvmOptions {
  readonly strategy: ImmediateExitStrategy;
  readonly delivery: DeliveryPolicy;
  readonly seed?: number;
  /** CPUID signature offered to the guest; the host's by default (as with "-cpu host"). */
  readonly guestSignature?: number;
  readonly costs?: Partial<KvmCosts>;
  /** Fault injection: drop the single-step trap after emulating an instruction. */
  readonly dropSingleStepTrap?: boolean;
}

// This level's own interrupt vectors on the platform below.
const VEC_RESCHEDULE = 0xfd;
const VEC_NESTED_TIMER = 0xec;
const VEC_POSTED_NOTIFY = 0xf2;
/** The guest's timer vectors are mapped above 0x100 on the platform below. */
const GUEST_TIMER_BASE = 0x100;

type NestedEvent = 'none' | 'busy' | 'exited';

/**
 * KVM's nested VMX on one vCPU. It runs on any VMX platform (the hardware or another Kvm) and
 * is one for its guest hypervisor: VMX instructions on vmcs12s are emulated, the nested guest
 * runs on a vmcs02 entered on the platform below. Nothing here knows how deep it is.
 */
export class Kvm implements VmxPlatform {
  readonly memory: PhysicalMemory;
  /** The strategy this level uses, after KVM's rule when asked for 'kvm'. */
  readonly immediateExit: 'self-ipi' | 'preemption-timer';
  private readonly costs: KvmCosts;
  private readonly nestedMsrs: Map<number, bigint>;
  private readonly caps12: VmxControlCaps;
  private readonly capsBelow: VmxControlCaps;
  private readonly vmx12: VmxOperation;
  private readonly apic: GuestApic;
  private readonly guestSignature: number;
  private guestCr4 = 0n;
  private guestFeatureControl = 0n;
  private vmcs02Addr = 0;
  private vmcs02Launched = false;

  // Nested state (vmx->nested in KVM).
  private vmcs12: Vmcs | null = null;
  private nestedRunPending = false;
  private eventRequest = false;
  private immediateExitRequested = false;
  private timerExpired = false;
  private timerDeadline = 0;
  private timerArmed = false;
  /** vmcs12's timer is to be started once vmcs02 is prepared. */
  private timerToStart = false;
  private l2Halted = false;
  /** An exception queued for the nested guest by this level's emulation (vector), or -1. */
  private queuedException = -1;

  constructor(readonly below: VmxPlatform, readonly options: KvmOptions) {
    this.memory = below.memory;
    this.costs = { ...DEFAULT_KVM_COSTS, ...options.costs };
    this.guestSignature = options.guestSignature ?? below.cpuidSignature();
    this.apic = new GuestApic(options.delivery, new Rng(options.seed ?? 1));
    this.nestedMsrs = nestedCapabilityMsrs(below);
    this.caps12 = readControlCaps((i) => this.nestedMsrs.get(i));
    this.capsBelow = readControlCaps((i) => this.belowMsr(i));
    this.vmx12 = new VmxOperation({
      memory: this.memory,
      msr: (i) => this.guestMsr(i),
      cr4: () => this.guestCr4,
      physAddrBits: 46,
    });
    this.immediateExit = this.chooseStrategy();
    below.onInterrupt((v) => this.ownInterrupt(v));
    this.hardwareEnable();
  }

  private belowMsr(index: number): bigint | undefined {
    try {
      return this.below.rdmsr(index);
    } catch (e) {
      if (e instanceof CpuFault) return undefined;
      throw e;
    }
  }

  /**
   * hardware_setup: the preemption-timer way iff this level's VMCS configuration has the pin
   * control, which KVM strips on CPUs with the timer errata (as identified by the CPUID
   * signature this level sees).
   */
  private chooseStrategy(): 'self-ipi' | 'preemption-timer' {
    if (this.options.strategy !== 'kvm') return this.options.strategy;
    const hasPin = (this.capsBelow.pin.mayBeOne & C.PIN_PREEMPT) !== 0;
    const configHasTimer = hasPin && !hasBrokenPreemptionTimer(this.below.cpuidSignature());
    return configHasTimer ? 'preemption-timer' : 'self-ipi';
  }

  /** hardware_enable: VMXON on the platform below, and a vmcs02 page. */
  private hardwareEnable(): void {
    const b = this.below;
    const fc = b.rdmsr(M.IA32_FEATURE_CONTROL);
    if ((fc & M.FEATURE_CONTROL_LOCKED) === 0n) {
      b.wrmsr(M.IA32_FEATURE_CONTROL, fc | M.FEATURE_CONTROL_LOCKED | M.FEATURE_CONTROL_VMXON_OUTSIDE_SMX);
    }
    b.writeCr4(b.readCr4() | C.CR4_VMXE);
    const revision = M.vmxBasicRevision(b.rdmsr(M.IA32_VMX_BASIC));
    const region = this.memory.allocPage();
    this.memory.setRevision(region, revision);
    this.mustSucceed(b.vmxon(region), 'vmxon');
    this.vmcs02Addr = this.memory.allocPage();
    this.memory.setRevision(this.vmcs02Addr, revision);
    this.mustSucceed(b.vmclear(this.vmcs02Addr), 'vmclear vmcs02');
    // vmcs02 stays the current VMCS on the platform below: this level loads no other.
    this.mustSucceed(b.vmptrld(this.vmcs02Addr), 'vmptrld vmcs02');
  }

  private mustSucceed(status: VmxStatus, what: string): void {
    if (status !== 'VMsucceed') throw new Error(`kvm: ${what} on the platform below failed (${status})`);
  }

  // ---- the platform offered to the guest hypervisor --------------------------------------

  cpuidSignature(): number {
    return this.guestSignature;
  }

  tscKhz(): number {
    return this.below.tscKhz();
  }

  rdtsc(): number {
    return this.below.rdtsc();
  }

  private guestMsr(index: number): bigint | undefined {
    if (index === M.IA32_FEATURE_CONTROL) return this.guestFeatureControl;
    if (index === M.IA32_TSC) return BigInt(this.below.rdtsc());
    return this.nestedMsrs.get(index);
  }

  rdmsr(index: number): bigint {
    const v = this.emulated(this.costs.emulatedVmxInstruction, () => this.guestMsr(index));
    if (v === undefined) throw generalProtection(`RDMSR of absent ${M.msrName(index)}`);
    return v;
  }

  wrmsr(index: number, value: bigint): void {
    this.emulated(this.costs.emulatedVmxInstruction, () => undefined);
    if (index === M.IA32_FEATURE_CONTROL && (this.guestFeatureControl & M.FEATURE_CONTROL_LOCKED) === 0n) {
      this.guestFeatureControl = value;
      return;
    }
    throw generalProtection(`WRMSR to ${M.msrName(index)}`);
  }

  readCr4(): bigint {
    return this.guestCr4;
  }

  writeCr4(value: bigint): void {
    this.guestCr4 = value;
  }

  /**
   * An instruction of the guest hypervisor that exits to this level: the exit of its context
   * (vmcs01) on the platform below, the emulation, and the entry back.
   */
  private emulated<T>(cost: number, f: () => T): T {
    this.below.spend(this.below.guestExitCost() + cost + this.below.guestEntryCost());
    return f();
  }

  /** A VMREAD/VMWRITE through the shadow VMCS: no exit. */
  private shadow<T>(f: () => T): T {
    this.below.spend(this.costs.shadowVmcsAccess);
    return f();
  }

  vmxon(addr: number): VmxStatus { return this.emulated(this.costs.emulatedVmxInstruction, () => this.vmx12.vmxon(addr)); }
  vmxoff(): VmxStatus { return this.emulated(this.costs.emulatedVmxInstruction, () => this.vmx12.vmxoff()); }
  vmclear(addr: number): VmxStatus { return this.emulated(this.costs.emulatedVmxInstruction, () => this.vmx12.vmclear(addr)); }
  vmptrld(addr: number): VmxStatus { return this.emulated(this.costs.emulatedVmxInstruction, () => this.vmx12.vmptrld(addr)); }
  vmptrst(): { status: VmxStatus; pointer: bigint } { return this.emulated(this.costs.emulatedVmxInstruction, () => this.vmx12.vmptrst()); }
  vmread(field: number): { status: VmxStatus; value: bigint } { return this.shadow(() => this.vmx12.vmread(field)); }
  vmwrite(field: number, value: bigint): VmxStatus { return this.shadow(() => this.vmx12.vmwrite(field, value)); }
  vmcall(): VmxStatus { return this.emulated(this.costs.emulatedVmxInstruction, () => this.vmx12.vmcallInRoot()); }

  guestRegisters(): Float64Array {
    if (this.vmx12.current === null) throw new Error('no current vmcs12');
    return this.vmx12.current.gprs;
  }

  vmlaunch(): VmxStatus {
    return this.nestedVmxRun(true);
  }

  vmresume(): VmxStatus {
    return this.nestedVmxRun(false);
  }

  spend(cycles: number): void {
    this.below.spend(cycles);
  }

  /** Entering the guest hypervisor's context is a VMRESUME that the level below emulates. */
  guestEntryCost(): number {
    return this.costs.nestedVmentry + this.below.guestEntryCost();
  }

  guestExitCost(): number {
    return this.costs.nestedVmexit + this.below.guestExitCost();
  }

  // ---- the emulated local APIC of the guest hypervisor -----------------------------------

  onInterrupt(handler: (vector: number) => void): void {
    this.apic.handler = handler;
  }

  sendSelfIpi(vector: number): void {
    const notifyAfter = this.apic.selfIpi(vector);
    if (notifyAfter === 0) this.eventRequest = true;
    else if (notifyAfter !== undefined) this.below.armInstructionCounter(VEC_POSTED_NOTIFY, notifyAfter);
  }

  armTimer(vector: number, deadline: number): void {
    this.below.armTimer(GUEST_TIMER_BASE + vector, deadline);
  }

  cancelTimer(vector: number): void {
    this.below.cancelTimer(GUEST_TIMER_BASE + vector);
  }

  armInstructionCounter(vector: number, count: number): void {
    this.below.armInstructionCounter(GUEST_TIMER_BASE + vector, count);
  }

  cancelInstructionCounter(vector: number): void {
    this.below.cancelInstructionCounter(GUEST_TIMER_BASE + vector);
  }

  /** The guest hypervisor opens its interrupt window: posted interrupts are delivered too. */
  processInterrupts(): void {
    this.below.processInterrupts();
    this.apic.syncPosted();
    this.apic.deliverAll();
  }

  /** The guest hypervisor halts (an exit to this level); it is entered again with the interrupt. */
  waitForInterrupt(): void {
    this.below.spend(this.below.guestExitCost());
    for (;;) {
      this.below.processInterrupts();
      this.apic.syncPosted();
      if (this.apic.hasPending()) break;
      this.below.waitForInterrupt();
    }
    this.below.spend(this.costs.handleExit + this.below.guestEntryCost());
    this.apic.deliverAll();
  }

  /** Interrupts of this level itself, arriving on the platform below. */
  private ownInterrupt(vector: number): void {
    if (vector === VEC_RESCHEDULE) return; // the immediate-exit IPI: its exit was the point
    if (vector === VEC_NESTED_TIMER) {
      // vmx_preemption_timer_fn: the emulated vmcs12 timer expired.
      this.timerArmed = false;
      this.timerExpired = true;
      this.eventRequest = true;
      return;
    }
    if (vector === VEC_POSTED_NOTIFY) {
      if (this.apic.syncPosted()) this.eventRequest = true;
      return;
    }
    if (vector >= GUEST_TIMER_BASE) {
      // A timer or counter of the guest hypervisor: this level was interrupted, so it knows at once.
      this.apic.pending.add(vector - GUEST_TIMER_BASE);
      this.eventRequest = true;
    }
  }

  // ---- nested VM entry and the run loop --------------------------------------------------

  /** nested_vmx_run: the guest hypervisor's VMLAUNCH/VMRESUME. */
  private nestedVmxRun(launch: boolean): VmxStatus {
    this.below.spend(this.below.guestExitCost() + this.costs.nestedVmentry);
    const checked = this.vmx12.checkEntry(launch, this.caps12);
    if (typeof checked === 'string') return checked;
    const vmcs12 = checked;
    const guestError = checkGuestState(vmcs12, this.nestedMsrs.get(M.IA32_VMX_MISC) ?? 0n);
    if (guestError !== 0) {
      // nested_vmx_entry_failure: a VM exit with reason 33 and bit 31 set (SDM 27.8).
      vmcs12.setNum(VMCS.VM_EXIT_REASON, C.EXIT_REASON_FAILED_VMENTRY | C.EXIT_REASON.ENTRY_FAIL_GUEST_STATE);
      vmcs12.setNum(VMCS.EXIT_QUALIFICATION, guestError);
      return 'VMsucceed';
    }
    this.vmx12.markLaunched(vmcs12);
    this.vmcs12 = vmcs12;
    this.nestedRunPending = true;
    this.l2Halted = vmcs12.num(VMCS.GUEST_ACTIVITY_STATE) === C.ACTIVITY_HLT;
    this.queuedException = -1;
    this.timerExpired = false;
    this.timerToStart = (vmcs12.num(VMCS.PIN_BASED_VM_EXEC_CONTROL) & C.PIN_PREEMPT) !== 0;
    // Value 0 expires at once (vmx_start_preemption_timer calls the expiry function directly).
    if (this.timerToStart && vmcs12.num(VMCS.VMX_PREEMPTION_TIMER_VALUE) === 0) {
      this.timerToStart = false;
      this.timerExpired = true;
    }
    this.eventRequest = true;
    this.runNested();
    return 'VMsucceed';
  }

  /**
   * vmx_start_preemption_timer, at the end of the nested entry's preparation: a host timer
   * for value x 2^5 guest TSC cycles (the guest TSC runs at this level's TSC rate).
   */
  private startNestedTimer(value: number): void {
    this.timerDeadline = this.below.rdtsc() + value * 2 ** EMULATED_TIMER_RATE;
    this.timerArmed = true;
    this.below.armTimer(VEC_NESTED_TIMER, this.timerDeadline);
  }

  private cancelNestedTimer(): void {
    if (this.timerArmed) this.below.cancelTimer(VEC_NESTED_TIMER);
    this.timerArmed = false;
  }

  /** vcpu_enter_guest while in guest mode, until a nested VM exit returns to the guest hypervisor. */
  private runNested(): void {
    for (;;) {
      if (this.eventRequest) {
        this.eventRequest = false;
        const r = this.checkNestedEvents();
        if (r === 'exited') return;
        if (r === 'busy') this.immediateExitRequested = true;
      }
      if (this.l2Halted) {
        if (this.haltUntilEvent()) continue;
      }
      let zeroTimer = false;
      if (this.immediateExitRequested) {
        this.immediateExitRequested = false;
        this.eventRequest = true;
        if (this.immediateExit === 'self-ipi') this.below.sendSelfIpi(VEC_RESCHEDULE);
        else zeroTimer = true;
      }
      this.prepareVmcs02(zeroTimer);
      if (this.timerToStart) {
        this.timerToStart = false;
        this.startNestedTimer(this.vmcs12!.num(VMCS.VMX_PREEMPTION_TIMER_VALUE));
      }
      const status = this.vmcs02Launched ? this.below.vmresume() : this.below.vmlaunch();
      this.mustSucceed(status, 'entry of vmcs02');
      this.vmcs02Launched = true;
      this.nestedRunPending = false;
      if (this.handleExit()) return;
    }
  }

  /**
   * The nested guest is halted and the guest hypervisor does not intercept HLT: block until
   * something is due for it (kvm_vcpu_block). Returns true to re-evaluate events.
   */
  private haltUntilEvent(): boolean {
    while (!this.eventRequest) {
      this.below.waitForInterrupt();
      this.apic.syncPosted();
      if (this.apic.hasPending()) this.eventRequest = true;
    }
    return true;
  }

  /** vmx_check_nested_events, in v4.19's order. */
  private checkNestedEvents(): NestedEvent {
    const vmcs12 = this.vmcs12!;
    const block = this.nestedRunPending;
    const bitmap12 = vmcs12.num(VMCS.EXCEPTION_BITMAP);
    if (this.queuedException >= 0 && (bitmap12 & (1 << this.queuedException)) !== 0) {
      if (block) return 'busy';
      const vector = this.queuedException;
      this.queuedException = -1;
      this.nestedVmexit(C.EXIT_REASON.EXCEPTION_NMI, {
        intrInfo: C.INTR_INFO_VALID | C.INTR_TYPE_HARD_EXCEPTION | vector,
        qualification: vector === C.DB_VECTOR ? C.PENDING_DBG_BS : 0,
      });
      return 'exited';
    }
    if (this.timerExpired) {
      if (block) return 'busy';
      this.nestedVmexit(C.EXIT_REASON.PREEMPTION_TIMER, {});
      return 'exited';
    }
    if (this.apic.hasPending() && (vmcs12.num(VMCS.PIN_BASED_VM_EXEC_CONTROL) & C.PIN_EXTINT) !== 0) {
      if (block) return 'busy';
      this.nestedVmexit(C.EXIT_REASON.EXTERNAL_INTERRUPT, {});
      return 'exited';
    }
    return 'none';
  }

  private fitBelow(want: number, caps: { mustBeOne: number; mayBeOne: number }): number {
    return ((want | caps.mustBeOne) & caps.mayBeOne) >>> 0;
  }

  /** prepare_vmcs02: vmcs12's controls merged with this level's, on the VMCS entered below. */
  private prepareVmcs02(zeroTimer: boolean): void {
    const b = this.below;
    const v12 = this.vmcs12!;
    const w = (field: number, value: number | bigint) => this.mustSucceed(b.vmwrite(field, BigInt(value)), `vmwrite 0x${field.toString(16)}`);
    const pin12 = v12.num(VMCS.PIN_BASED_VM_EXEC_CONTROL);
    // vmcs02 never carries vmcs12's timer; the hardware timer there belongs to this level.
    let pin = (pin12 & ~C.PIN_PREEMPT & ~C.PIN_POST_INTR) | C.PIN_EXTINT | C.PIN_NMI;
    if (zeroTimer) pin |= C.PIN_PREEMPT;
    w(VMCS.PIN_BASED_VM_EXEC_CONTROL, this.fitBelow(pin, this.capsBelow.pin));
    const proc12 = v12.num(VMCS.CPU_BASED_VM_EXEC_CONTROL);
    const proc = proc12 | C.CPU_HLT | ((this.capsBelow.proc.mayBeOne & C.CPU_SECONDARY) !== 0 ? C.CPU_SECONDARY : 0);
    w(VMCS.CPU_BASED_VM_EXEC_CONTROL, this.fitBelow(proc, this.capsBelow.proc));
    const proc2_12 = (proc12 & C.CPU_SECONDARY) !== 0 ? v12.num(VMCS.SECONDARY_VM_EXEC_CONTROL) : 0;
    w(VMCS.SECONDARY_VM_EXEC_CONTROL, this.fitBelow(proc2_12 | C.CPU2_WBINVD, this.capsBelow.proc2));
    w(VMCS.VM_EXIT_CONTROLS, this.fitBelow(C.EXI_HOST_64, this.capsBelow.exit));
    w(VMCS.VM_ENTRY_CONTROLS, this.fitBelow(C.ENT_GUEST_64, this.capsBelow.entry));
    w(VMCS.EXCEPTION_BITMAP, v12.num(VMCS.EXCEPTION_BITMAP));
    w(VMCS.TSC_OFFSET, (proc12 & C.CPU_USE_TSC_OFFSET) !== 0 ? v12.get(VMCS.TSC_OFFSET) : 0n);
    w(VMCS.VMX_PREEMPTION_TIMER_VALUE, 0);
    w(VMCS.HOST_CR4, b.readCr4());
    w(VMCS.VMCS_LINK_POINTER, 0xffffffffffffffffn);
    if (this.nestedRunPending) {
      // First entry after the guest hypervisor's VMLAUNCH/VMRESUME: load vmcs12's guest state
      // and deliver what it injects.
      for (const f of GUEST_STATE_FIELDS) w(f, v12.get(f));
      w(VMCS.VM_ENTRY_INTR_INFO_FIELD, v12.num(VMCS.VM_ENTRY_INTR_INFO_FIELD));
      w(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE, v12.num(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE));
      w(VMCS.VM_ENTRY_INSTRUCTION_LEN, v12.num(VMCS.VM_ENTRY_INSTRUCTION_LEN));
      b.guestRegisters().set(v12.gprs);
    } else if (this.queuedException >= 0) {
      w(VMCS.VM_ENTRY_INTR_INFO_FIELD, C.INTR_INFO_VALID | C.INTR_TYPE_HARD_EXCEPTION | this.queuedException);
      this.queuedException = -1;
    } else {
      w(VMCS.VM_ENTRY_INTR_INFO_FIELD, 0);
    }
    w(VMCS.GUEST_ACTIVITY_STATE, C.ACTIVITY_ACTIVE);
  }

  /** Handles an exit of vmcs02. Returns true when it became a nested VM exit. */
  private handleExit(): boolean {
    const b = this.below;
    const r = (f: number) => Number(b.vmread(f).value);
    const reason = r(VMCS.VM_EXIT_REASON);
    if ((reason & C.EXIT_REASON_FAILED_VMENTRY) !== 0) throw new Error(`kvm: vmcs02 entry failed (reason 0x${reason.toString(16)})`);
    // An exit of the nested guest for any reason: look at the posted-interrupt descriptor.
    if (this.apic.syncPosted()) this.eventRequest = true;
    // local_irq_enable after the exit: this level's own interrupts are handled here.
    b.processInterrupts();
    const v12 = this.vmcs12!;
    const basic = reason & 0xffff;
    switch (basic) {
      case C.EXIT_REASON.EXTERNAL_INTERRUPT:
      case C.EXIT_REASON.PREEMPTION_TIMER:
        // This level's own interrupt or immediate exit: consumed, never reflected.
        b.spend(this.costs.handleExit);
        return false;
      case C.EXIT_REASON.HLT:
        if ((v12.num(VMCS.CPU_BASED_VM_EXEC_CONTROL) & C.CPU_HLT) !== 0) return this.reflect(basic);
        this.skipInstruction(false);
        this.l2Halted = true;
        b.spend(this.costs.handleExit);
        return false;
      case C.EXIT_REASON.WBINVD: {
        const proc12 = v12.num(VMCS.CPU_BASED_VM_EXEC_CONTROL);
        const wants = (proc12 & C.CPU_SECONDARY) !== 0 && (v12.num(VMCS.SECONDARY_VM_EXEC_CONTROL) & C.CPU2_WBINVD) !== 0;
        if (wants) return this.reflect(basic);
        // kvm_emulate_wbinvd: nothing to flush for this guest; skip it (and single-step).
        this.skipInstruction(true);
        b.spend(this.costs.handleExit);
        return false;
      }
      default:
        return this.reflect(basic);
    }
  }

  /**
   * kvm_skip_emulated_instruction: advance RIP past the exiting instruction; after an emulated
   * instruction run with RFLAGS.TF, queue the single-step #DB (kvm_vcpu_do_singlestep).
   */
  private skipInstruction(singleStep: boolean): void {
    const b = this.below;
    const rip = Number(b.vmread(VMCS.GUEST_RIP).value);
    const len = Number(b.vmread(VMCS.VM_EXIT_INSTRUCTION_LEN).value);
    this.mustSucceed(b.vmwrite(VMCS.GUEST_RIP, BigInt(rip + len)), 'skip instruction');
    const rflags = Number(b.vmread(VMCS.GUEST_RFLAGS).value);
    if (singleStep && (rflags & C.RFLAGS_TF) !== 0 && !this.options.dropSingleStepTrap) {
      this.queuedException = C.DB_VECTOR;
      this.eventRequest = true;
    }
  }

  /** nested_vmx_vmexit for an exit of vmcs02 that the guest hypervisor asked for. */
  private reflect(reason: number): boolean {
    const b = this.below;
    const r = (f: number) => Number(b.vmread(f).value);
    this.nestedVmexit(reason, {
      qualification: r(VMCS.EXIT_QUALIFICATION),
      intrInfo: r(VMCS.VM_EXIT_INTR_INFO),
      insnLen: r(VMCS.VM_EXIT_INSTRUCTION_LEN),
    });
    return true;
  }

  /** nested_vmx_vmexit + prepare_vmcs12: sync the nested guest's state into vmcs12 and leave guest mode. */
  private nestedVmexit(reason: number, info: { qualification?: number; intrInfo?: number; insnLen?: number }): void {
    const b = this.below;
    const v12 = this.vmcs12!;
    if (this.vmcs02Launched && !this.nestedRunPending) {
      for (const f of GUEST_STATE_FIELDS) v12.setNum(f, Number(b.vmread(f).value));
      v12.gprs.set(b.guestRegisters());
    }
    v12.setNum(VMCS.GUEST_ACTIVITY_STATE, this.l2Halted ? C.ACTIVITY_HLT : C.ACTIVITY_ACTIVE);
    if ((v12.num(VMCS.VM_EXIT_CONTROLS) & C.EXI_SAVE_PREEMPT) !== 0) {
      // vmx_get_preemption_timer_value: the remaining time converted back to ticks.
      const left = this.timerExpired || !this.timerArmed ? 0 : Math.max(0, Math.floor((this.timerDeadline - b.rdtsc()) / 2 ** EMULATED_TIMER_RATE));
      v12.setNum(VMCS.VMX_PREEMPTION_TIMER_VALUE, left);
    }
    v12.setNum(VMCS.VM_ENTRY_INTR_INFO_FIELD, v12.num(VMCS.VM_ENTRY_INTR_INFO_FIELD) & ~C.INTR_INFO_VALID);
    v12.setNum(VMCS.VM_EXIT_REASON, reason);
    v12.setNum(VMCS.EXIT_QUALIFICATION, info.qualification ?? 0);
    v12.setNum(VMCS.VM_EXIT_INTR_INFO, info.intrInfo ?? 0);
    v12.setNum(VMCS.VM_EXIT_INSTRUCTION_LEN, info.insnLen ?? 0);
    v12.setNum(VMCS.IDT_VECTORING_INFO_FIELD, 0);
    this.cancelNestedTimer();
    this.timerExpired = false;
    this.l2Halted = false;
    this.nestedRunPending = false;
    this.vmcs12 = null;
    // Back to the guest hypervisor: an entry of its context on the platform below.
    b.spend(this.costs.nestedVmexit + b.guestEntryCost());
  }
}

/** Guest-state fields carried between vmcs12 and vmcs02. */
const GUEST_STATE_FIELDS: readonly number[] = [
  VMCS.GUEST_RIP, VMCS.GUEST_RSP, VMCS.GUEST_RFLAGS, VMCS.GUEST_INTERRUPTIBILITY_INFO,
  VMCS.GUEST_PENDING_DBG_EXCEPTIONS, VMCS.GUEST_IDTR_BASE, VMCS.GUEST_IDTR_LIMIT,
  VMCS.GUEST_CR0, VMCS.GUEST_CR3, VMCS.GUEST_CR4, VMCS.GUEST_DR7,
];

