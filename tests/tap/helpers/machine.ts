// Shared set-up for the arch tests: a Hardware in VMX root operation with a current VMCS whose
// controls satisfy the profile's capability MSRs, and guest code placed in memory.
import { CpuProfile } from '../../../arch/cpu-profile';
import { CpuFault } from '../../../arch/fault';
import { readControlCaps } from '../../../arch/controls';
import { Assembler, loadProgram } from '../../../arch/guest/assembler';
import { Budget, Hardware } from '../../../arch/hardware';
import { PAGE_SIZE } from '../../../arch/memory';
import * as M from '../../../arch/msr';
import { VMCS } from '../../../arch/vmcs-fields';
import { CR4_VMXE, RFLAGS_FIXED } from '../../../arch/vmx-constants';
import { VmxStatus } from '../../../arch/vmx-operation';

export interface MachineOptions {
  readonly budget?: Budget;
  readonly fastForward?: boolean;
}

export function newHardware(profile: CpuProfile, opts: MachineOptions = {}): Hardware {
  return new Hardware({ profile, budget: opts.budget, fastForward: opts.fastForward });
}

export function revisionOf(hw: Hardware): number {
  return M.vmxBasicRevision(hw.rdmsr(M.IA32_VMX_BASIC));
}

/** A fresh page carrying this processor's VMCS revision identifier. */
export function regionPage(hw: Hardware, revision = revisionOf(hw)): number {
  const page = hw.memory.allocPage();
  hw.memory.setRevision(page, revision);
  return page;
}

/** Enables VMX as system software does: feature control, CR4.VMXE, VMXON. Returns the VMXON region. */
export function enableVmx(hw: Hardware): number {
  hw.wrmsr(M.IA32_FEATURE_CONTROL, M.FEATURE_CONTROL_LOCKED | M.FEATURE_CONTROL_VMXON_OUTSIDE_SMX);
  hw.writeCr4(hw.readCr4() | CR4_VMXE);
  const region = regionPage(hw);
  must(hw.vmxon(region), 'vmxon');
  return region;
}

/** A new VMCS, cleared and made current. */
export function loadNewVmcs(hw: Hardware): number {
  const vmcs = regionPage(hw);
  must(hw.vmclear(vmcs), 'vmclear');
  must(hw.vmptrld(vmcs), 'vmptrld');
  return vmcs;
}

export function must(status: VmxStatus, what: string): void {
  if (status !== 'VMsucceed') throw new Error(`${what}: ${status}`);
}

export function write(hw: Hardware, field: number, value: number | bigint): void {
  must(hw.vmwrite(field, BigInt(value)), `vmwrite 0x${field.toString(16)}`);
}

export function read(hw: Hardware, field: number): number {
  const r = hw.vmread(field);
  if (r.status !== 'VMsucceed') throw new Error(`vmread 0x${field.toString(16)}: ${r.status}`);
  return Number(r.value);
}

/** VM_INSTRUCTION_ERROR of the current VMCS. */
export function vmError(hw: Hardware): number {
  return read(hw, VMCS.VM_INSTRUCTION_ERROR);
}

/** The wanted bits of each control field; the capability MSRs fix the rest. */
export interface Controls {
  pin?: number;
  proc?: number;
  proc2?: number;
  exit?: number;
  entry?: number;
}

/** The control values closest to `want` that the profile allows: (want | mustBeOne) & mayBeOne. */
export function allowedControls(profile: CpuProfile, want: Controls = {}): Required<Controls> {
  const caps = readControlCaps((i) => profile.msrs.get(i));
  const fit = (w: number | undefined, c: M.ControlCaps) => (((w ?? 0) | c.mustBeOne) & c.mayBeOne) >>> 0;
  return {
    pin: fit(want.pin, caps.pin),
    proc: fit(want.proc, caps.proc),
    proc2: fit(want.proc2, caps.proc2),
    exit: fit(want.exit, caps.exit),
    entry: fit(want.entry, caps.entry),
  };
}

export function writeControls(hw: Hardware, c: Required<Controls>): void {
  write(hw, VMCS.PIN_BASED_VM_EXEC_CONTROL, c.pin);
  write(hw, VMCS.CPU_BASED_VM_EXEC_CONTROL, c.proc);
  write(hw, VMCS.SECONDARY_VM_EXEC_CONTROL, c.proc2);
  write(hw, VMCS.VM_EXIT_CONTROLS, c.exit);
  write(hw, VMCS.VM_ENTRY_CONTROLS, c.entry);
}

export interface Machine {
  readonly hw: Hardware;
  readonly vmxon: number;
  readonly vmcs: number;
  /** Where guest code starts (GUEST_RIP). */
  readonly code: number;
}

/**
 * A machine in VMX root operation with a current, clear VMCS ready for VMLAUNCH: valid controls
 * (`want` fitted to the capability MSRs), host CR4 with VMXE, a valid guest state, and the guest
 * code `guest` writes placed at GUEST_RIP.
 */
export function machine(
  profile: CpuProfile,
  guest: (a: Assembler) => void = (a) => a.vmcall(),
  want: Controls = {},
  opts: MachineOptions = {},
): Machine {
  const hw = newHardware(profile, opts);
  const vmxon = enableVmx(hw);
  const vmcs = loadNewVmcs(hw);
  const code = hw.memory.allocPage();
  const a = new Assembler(code);
  guest(a);
  loadProgram(hw.memory, a.assemble());
  const stack = hw.memory.allocPage() + PAGE_SIZE;
  writeControls(hw, allowedControls(profile, want));
  write(hw, VMCS.HOST_CR4, hw.readCr4());
  write(hw, VMCS.VMCS_LINK_POINTER, 0xffffffffffffffffn);
  write(hw, VMCS.GUEST_RIP, code);
  write(hw, VMCS.GUEST_RSP, stack);
  write(hw, VMCS.GUEST_RFLAGS, RFLAGS_FIXED);
  write(hw, VMCS.GUEST_ACTIVITY_STATE, 0);
  return { hw, vmxon, vmcs, code };
}

/** The basic exit reason (bits 15:0) and the full field. */
export function exitReason(hw: Hardware): number {
  return read(hw, VMCS.VM_EXIT_REASON);
}

/** Runs `fn` and returns the CpuFault vector it raised, or a description of what happened instead. */
export function faultVector(fn: () => unknown): number | string {
  try {
    fn();
    return 'no fault';
  } catch (e) {
    return e instanceof CpuFault ? e.vector : `non-CpuFault ${String(e)}`;
  }
}
