import * as M from './msr';
import { Vmcs } from './vmcs';
import { VMCS } from './vmcs-fields';
import { CPU_SECONDARY, PIN_PREEMPT, EXI_SAVE_PREEMPT, CR4_VMXE, RFLAGS_FIXED, VMXERR } from './vmx-constants';

/** Reads a capability MSR of the platform whose VM entries are being checked. */
export type CapabilityReader = (index: number) => bigint | undefined;

/** The allowed settings of each control field, chosen from the TRUE MSRs when BASIC bit 55 says they exist. */
export interface VmxControlCaps {
  readonly pin: M.ControlCaps;
  readonly proc: M.ControlCaps;
  readonly proc2: M.ControlCaps;
  readonly exit: M.ControlCaps;
  readonly entry: M.ControlCaps;
}

export function readControlCaps(read: CapabilityReader): VmxControlCaps {
  const basic = read(M.IA32_VMX_BASIC) ?? 0n;
  const useTrue = (basic & M.VMX_BASIC_TRUE_CTLS) !== 0n;
  const pick = (plain: number, truer: number): M.ControlCaps =>
    M.controlCaps((useTrue ? read(truer) : undefined) ?? read(plain) ?? 0n);
  return {
    pin: pick(M.IA32_VMX_PINBASED_CTLS, M.IA32_VMX_TRUE_PINBASED_CTLS),
    proc: pick(M.IA32_VMX_PROCBASED_CTLS, M.IA32_VMX_TRUE_PROCBASED_CTLS),
    proc2: M.controlCaps(read(M.IA32_VMX_PROCBASED_CTLS2) ?? 0n),
    exit: pick(M.IA32_VMX_EXIT_CTLS, M.IA32_VMX_TRUE_EXIT_CTLS),
    entry: pick(M.IA32_VMX_ENTRY_CTLS, M.IA32_VMX_TRUE_ENTRY_CTLS),
  };
}

/** Whether a control value respects a capability MSR's allowed 0- and 1-settings (SDM A.3). */
export function controlAllowed(value: number, caps: M.ControlCaps): boolean {
  const v = value >>> 0;
  return ((v & caps.mustBeOne) >>> 0) === caps.mustBeOne && ((v & ~caps.mayBeOne) >>> 0) === 0;
}

/**
 * Checks on VM-execution, VM-exit and VM-entry control fields (SDM 27.2.1). Returns 0 when
 * they pass, else the VM-instruction error number (7).
 */
export function checkControls(vmcs: Vmcs, caps: VmxControlCaps): number {
  const pin = vmcs.num(VMCS.PIN_BASED_VM_EXEC_CONTROL);
  const proc = vmcs.num(VMCS.CPU_BASED_VM_EXEC_CONTROL);
  const exit = vmcs.num(VMCS.VM_EXIT_CONTROLS);
  const entry = vmcs.num(VMCS.VM_ENTRY_CONTROLS);
  if (!controlAllowed(pin, caps.pin)) return VMXERR.ENTRY_INVALID_CONTROL_FIELD;
  if (!controlAllowed(proc, caps.proc)) return VMXERR.ENTRY_INVALID_CONTROL_FIELD;
  // The secondary controls are checked only when "activate secondary controls" is 1 (SDM 27.2.1.1).
  if ((proc & CPU_SECONDARY) !== 0 && !controlAllowed(vmcs.num(VMCS.SECONDARY_VM_EXEC_CONTROL), caps.proc2)) {
    return VMXERR.ENTRY_INVALID_CONTROL_FIELD;
  }
  // SDM 27.2.1.2: if "activate VMX-preemption timer" is 0, "save VMX-preemption timer value" must be 0.
  if ((pin & PIN_PREEMPT) === 0 && (exit & EXI_SAVE_PREEMPT) !== 0) return VMXERR.ENTRY_INVALID_CONTROL_FIELD;
  if (!controlAllowed(exit, caps.exit)) return VMXERR.ENTRY_INVALID_CONTROL_FIELD;
  if (!controlAllowed(entry, caps.entry)) return VMXERR.ENTRY_INVALID_CONTROL_FIELD;
  return 0;
}

/** Checks on host control registers (SDM 27.2.2): CR4.VMXE must be 1 in VMX operation. */
export function checkHostState(vmcs: Vmcs): number {
  if ((vmcs.get(VMCS.HOST_CR4) & CR4_VMXE) === 0n) return VMXERR.ENTRY_INVALID_HOST_STATE_FIELD;
  return 0;
}

/**
 * Checks on the guest-state area (SDM 27.3.1) that this model makes: the activity state must be
 * one IA32_VMX_MISC supports (27.3.1.5), RFLAGS bit 1 must be 1 (27.3.1.4), and the VMCS link
 * pointer must be all ones (27.3.1.5, no shadow VMCS). Returns 0, or the exit qualification of
 * the VM-entry failure.
 */
export function checkGuestState(vmcs: Vmcs, misc: bigint): number {
  const activity = vmcs.num(VMCS.GUEST_ACTIVITY_STATE);
  if (activity > 3 || (activity !== 0 && (misc & (1n << BigInt(5 + activity))) === 0n)) return 1;
  if ((vmcs.num(VMCS.GUEST_RFLAGS) & RFLAGS_FIXED) === 0) return 1;
  if (vmcs.get(VMCS.VMCS_LINK_POINTER) !== 0xffffffffffffffffn) return 4;
  return 0;
}
