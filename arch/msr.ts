// MSR indices (SDM Vol. 4, and Vol. 3D appendix A "VMX capability reporting facility").
export const IA32_TSC = 0x10;
export const IA32_FEATURE_CONTROL = 0x3a;
export const IA32_TSC_DEADLINE = 0x6e0;
export const IA32_VMX_BASIC = 0x480;
export const IA32_VMX_PINBASED_CTLS = 0x481;
export const IA32_VMX_PROCBASED_CTLS = 0x482;
export const IA32_VMX_EXIT_CTLS = 0x483;
export const IA32_VMX_ENTRY_CTLS = 0x484;
export const IA32_VMX_MISC = 0x485;
export const IA32_VMX_CR0_FIXED0 = 0x486;
export const IA32_VMX_CR0_FIXED1 = 0x487;
export const IA32_VMX_CR4_FIXED0 = 0x488;
export const IA32_VMX_CR4_FIXED1 = 0x489;
export const IA32_VMX_VMCS_ENUM = 0x48a;
export const IA32_VMX_PROCBASED_CTLS2 = 0x48b;
export const IA32_VMX_EPT_VPID_CAP = 0x48c;
export const IA32_VMX_TRUE_PINBASED_CTLS = 0x48d;
export const IA32_VMX_TRUE_PROCBASED_CTLS = 0x48e;
export const IA32_VMX_TRUE_EXIT_CTLS = 0x48f;
export const IA32_VMX_TRUE_ENTRY_CTLS = 0x490;
export const IA32_VMX_VMFUNC = 0x491;

/** IA32_FEATURE_CONTROL bits (SDM 23.7). */
export const FEATURE_CONTROL_LOCKED = 1n << 0n;
export const FEATURE_CONTROL_VMXON_OUTSIDE_SMX = 1n << 2n;

/** IA32_VMX_BASIC bit 55: the TRUE_* capability MSRs exist (SDM A.1). */
export const VMX_BASIC_TRUE_CTLS = 1n << 55n;
/** IA32_VMX_MISC bit 29: VMWRITE may write VM-exit information fields (SDM A.6). */
export const VMX_MISC_VMWRITE_ALL = 1n << 29n;

export function vmxBasicRevision(basic: bigint): number {
  return Number(basic & 0x7fffffffn);
}

/** IA32_VMX_MISC[4:0]: the TSC bit whose changes clock the VMX-preemption timer (SDM A.6). */
export function vmxMiscTimerRate(misc: bigint): number {
  return Number(misc & 0x1fn);
}

/** A control capability MSR split into its two halves (SDM A.3). */
export interface ControlCaps {
  /** Bits that must be 1 (the allowed 0-settings, bits 31:0). */
  readonly mustBeOne: number;
  /** Bits that may be 1 (the allowed 1-settings, bits 63:32). */
  readonly mayBeOne: number;
}

export function controlCaps(msr: bigint): ControlCaps {
  return { mustBeOne: Number(msr & 0xffffffffn) >>> 0, mayBeOne: Number(msr >> 32n) >>> 0 };
}

export function msrName(index: number): string {
  const names: Record<number, string> = {
    [IA32_TSC]: 'IA32_TSC', [IA32_FEATURE_CONTROL]: 'IA32_FEATURE_CONTROL', [IA32_TSC_DEADLINE]: 'IA32_TSC_DEADLINE',
    [IA32_VMX_BASIC]: 'IA32_VMX_BASIC', [IA32_VMX_PINBASED_CTLS]: 'IA32_VMX_PINBASED_CTLS',
    [IA32_VMX_PROCBASED_CTLS]: 'IA32_VMX_PROCBASED_CTLS', [IA32_VMX_EXIT_CTLS]: 'IA32_VMX_EXIT_CTLS',
    [IA32_VMX_ENTRY_CTLS]: 'IA32_VMX_ENTRY_CTLS', [IA32_VMX_MISC]: 'IA32_VMX_MISC',
    [IA32_VMX_CR0_FIXED0]: 'IA32_VMX_CR0_FIXED0', [IA32_VMX_CR0_FIXED1]: 'IA32_VMX_CR0_FIXED1',
    [IA32_VMX_CR4_FIXED0]: 'IA32_VMX_CR4_FIXED0', [IA32_VMX_CR4_FIXED1]: 'IA32_VMX_CR4_FIXED1',
    [IA32_VMX_VMCS_ENUM]: 'IA32_VMX_VMCS_ENUM', [IA32_VMX_PROCBASED_CTLS2]: 'IA32_VMX_PROCBASED_CTLS2',
    [IA32_VMX_EPT_VPID_CAP]: 'IA32_VMX_EPT_VPID_CAP', [IA32_VMX_TRUE_PINBASED_CTLS]: 'IA32_VMX_TRUE_PINBASED_CTLS',
    [IA32_VMX_TRUE_PROCBASED_CTLS]: 'IA32_VMX_TRUE_PROCBASED_CTLS', [IA32_VMX_TRUE_EXIT_CTLS]: 'IA32_VMX_TRUE_EXIT_CTLS',
    [IA32_VMX_TRUE_ENTRY_CTLS]: 'IA32_VMX_TRUE_ENTRY_CTLS', [IA32_VMX_VMFUNC]: 'IA32_VMX_VMFUNC',
  };
  return names[index] ?? `MSR 0x${index.toString(16)}`;
}
