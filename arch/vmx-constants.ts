// Control bits, exit reasons and VM-instruction error numbers (SDM Vol. 3C ch. 25, 30.4, App. C).

// Pin-based VM-execution controls (SDM 25.6.1).
export const PIN_EXTINT = 1 << 0;
export const PIN_NMI = 1 << 3;
export const PIN_VIRT_NMI = 1 << 5;
export const PIN_PREEMPT = 1 << 6;
export const PIN_POST_INTR = 1 << 7;

// Primary processor-based VM-execution controls (SDM 25.6.2).
export const CPU_INTR_WINDOW = 1 << 2;
export const CPU_USE_TSC_OFFSET = 1 << 3;
export const CPU_HLT = 1 << 7;
export const CPU_RDTSC = 1 << 12;
export const CPU_NMI_WINDOW = 1 << 22;
export const CPU_MTF = 1 << 27;
export const CPU_SECONDARY = 1 << 31;

// Secondary processor-based VM-execution controls.
export const CPU2_WBINVD = 1 << 6;

// VM-exit controls (SDM 25.7.1).
export const EXI_SAVE_DBGCTLS = 1 << 2;
export const EXI_HOST_64 = 1 << 9;
export const EXI_ACK_INTR = 1 << 15;
export const EXI_SAVE_PREEMPT = 1 << 22;

// VM-entry controls (SDM 25.8.1).
export const ENT_LOAD_DBGCTLS = 1 << 2;
export const ENT_GUEST_64 = 1 << 9;

// Basic exit reasons (SDM App. C).
export const EXIT_REASON = {
  EXCEPTION_NMI: 0,
  EXTERNAL_INTERRUPT: 1,
  TRIPLE_FAULT: 2,
  INTERRUPT_WINDOW: 7,
  NMI_WINDOW: 8,
  CPUID: 10,
  HLT: 12,
  RDTSC: 16,
  VMCALL: 18,
  VMCLEAR: 19,
  VMLAUNCH: 20,
  VMPTRLD: 21,
  VMPTRST: 22,
  VMREAD: 23,
  VMRESUME: 24,
  VMWRITE: 25,
  VMXOFF: 26,
  VMXON: 27,
  RDMSR: 31,
  WRMSR: 32,
  ENTRY_FAIL_GUEST_STATE: 33,
  MONITOR_TRAP_FLAG: 37,
  PAUSE: 40,
  PREEMPTION_TIMER: 52,
  WBINVD: 54,
} as const;

/** Bit 31 of the exit reason: the VM entry failed (SDM 25.9.1). */
export const EXIT_REASON_FAILED_VMENTRY = 0x80000000;

// VM-instruction error numbers (SDM 31.4).
export const VMXERR = {
  VMCALL_IN_ROOT: 1,
  VMCLEAR_INVALID_ADDRESS: 2,
  VMCLEAR_VMXON_POINTER: 3,
  VMLAUNCH_NONCLEAR_VMCS: 4,
  VMRESUME_NONLAUNCHED_VMCS: 5,
  VMRESUME_AFTER_VMXOFF: 6,
  ENTRY_INVALID_CONTROL_FIELD: 7,
  ENTRY_INVALID_HOST_STATE_FIELD: 8,
  VMPTRLD_INVALID_ADDRESS: 9,
  VMPTRLD_VMXON_POINTER: 10,
  VMPTRLD_INCORRECT_REVISION_ID: 11,
  UNSUPPORTED_VMCS_COMPONENT: 12,
  VMWRITE_READ_ONLY_COMPONENT: 13,
  VMXON_IN_VMX_ROOT: 15,
} as const;

// Activity states (SDM 25.4.2).
export const ACTIVITY_ACTIVE = 0;
export const ACTIVITY_HLT = 1;
export const ACTIVITY_SHUTDOWN = 2;
export const ACTIVITY_WAIT_SIPI = 3;

// Event-injection / exit interruption information (SDM 25.8.3, 25.9.2).
export const INTR_INFO_VALID = 0x80000000;
export const INTR_INFO_DELIVER_CODE = 1 << 11;
export const INTR_TYPE_EXT_INTR = 0 << 8;
export const INTR_TYPE_NMI = 2 << 8;
export const INTR_TYPE_HARD_EXCEPTION = 3 << 8;
export const INTR_TYPE_SOFT_INTR = 4 << 8;
export const DB_VECTOR = 1;

// Pending debug exceptions (SDM 25.4.2).
export const PENDING_DBG_BS = 1 << 14;
export const PENDING_DBG_ENABLED_BP = 1 << 12;

// RFLAGS bits.
export const RFLAGS_FIXED = 1 << 1;
export const RFLAGS_TF = 1 << 8;
export const RFLAGS_IF = 1 << 9;
export const RFLAGS_CF = 1 << 0;
export const RFLAGS_ZF = 1 << 6;

// CR4.VMXE (SDM 23.7).
export const CR4_VMXE = 1n << 13n;

export function exitReasonName(reason: number): string {
  const basic = reason & 0xffff;
  for (const [name, value] of Object.entries(EXIT_REASON)) if (value === basic) return name;
  return `reason ${basic}`;
}
