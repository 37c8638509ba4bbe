import { PhysicalMemory } from './memory';
import { VmxStatus } from './vmx-operation';

/**
 * The VMX platform that software at one level sees: the instructions it may execute and the
 * local APIC it has. `Hardware` implements it for the bottom level; each Kvm level consumes
 * one and implements one for its guest, so the same software runs at any depth.
 */
export interface VmxPlatform {
  readonly memory: PhysicalMemory;
  /** CPUID.1:EAX (family/model/stepping) as this level's software sees it. */
  cpuidSignature(): number;
  /** TSC frequency in kHz (CPUID leaf 0x15 / calibration). */
  tscKhz(): number;
  rdtsc(): number;
  /** RDMSR: throws CpuFault #GP(0) for an MSR that does not exist. */
  rdmsr(index: number): bigint;
  /** WRMSR: throws CpuFault #GP(0) for a read-only or absent MSR. */
  wrmsr(index: number, value: bigint): void;
  readCr4(): bigint;
  writeCr4(value: bigint): void;

  vmxon(addr: number): VmxStatus;
  vmxoff(): VmxStatus;
  vmclear(addr: number): VmxStatus;
  vmptrld(addr: number): VmxStatus;
  vmptrst(): { status: VmxStatus; pointer: bigint };
  vmread(field: number): { status: VmxStatus; value: bigint };
  vmwrite(field: number, value: bigint): VmxStatus;
  /** VMLAUNCH: VMsucceed means the guest ran and a VM exit brought control back to the host. */
  vmlaunch(): VmxStatus;
  vmresume(): VmxStatus;
  /** VMCALL executed in VMX root operation (VMfail with error 1). */
  vmcall(): VmxStatus;
  /** The guest general-purpose registers saved with the current VMCS. */
  guestRegisters(): Float64Array;

  /** Host-side work of this level's software: time passes. */
  spend(cycles: number): void;
  /** Cycles one VM entry from this platform into its guest's context takes. */
  guestEntryCost(): number;
  /** Cycles one VM exit from its guest's context back to this platform takes. */
  guestExitCost(): number;

  /** Installs the software's interrupt handler (its IDT). */
  onInterrupt(handler: (vector: number) => void): void;
  /** A self-IPI through the local APIC. */
  sendSelfIpi(vector: number): void;
  /** A one-shot TSC-deadline timer interrupt on `vector`. Re-arming replaces it. */
  armTimer(vector: number, deadline: number): void;
  cancelTimer(vector: number): void;
  /** A counter overflow interrupt after `count` more retired guest instructions (a PMI). */
  armInstructionCounter(vector: number, count: number): void;
  cancelInstructionCounter(vector: number): void;
  /** Opens the interrupt window for a moment (sti; cli): handlers of pending interrupts run. */
  processInterrupts(): void;
  /** sti; hlt; cli: waits for at least one interrupt and runs the handlers. */
  waitForInterrupt(): void;
}
