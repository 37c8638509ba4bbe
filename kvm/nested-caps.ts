import * as M from '../arch/msr';
import { VmxPlatform } from '../arch/platform';
import * as C from '../arch/vmx-constants';
import { CpuFault } from '../arch/fault';

/** KVM's vmcs12 revision id (VMCS12_REVISION). */
export const VMCS12_REVISION = 0x11e57ed0;
/** VMX_MISC_EMULATED_PREEMPTION_TIMER_RATE. */
export const EMULATED_TIMER_RATE = 5;

const PIN_DEFAULT1 = 0x16;
const PROC_DEFAULT1 = 0x0401e172;
const PROC_DEFAULT1_TRUE = 0x04006172;
const EXIT_DEFAULT1 = 0x00036dff;
const EXIT_DEFAULT1_TRUE = 0x00036dfb;
const ENTRY_DEFAULT1 = 0x000011ff;
const ENTRY_DEFAULT1_TRUE = 0x000011fb;

function rdmsrOr(p: VmxPlatform, index: number): bigint {
  try {
    return p.rdmsr(index);
  } catch (e) {
    if (e instanceof CpuFault) return 0n;
    throw e;
  }
}

function caps(mustBeOne: number, mayBeOne: number): bigint {
  return (BigInt(mayBeOne >>> 0) << 32n) | BigInt(mustBeOne >>> 0);
}

/**
 * The VMX capability MSRs a Kvm level offers its guest hypervisor (nested_vmx_setup_ctls_msrs):
 * what the platform below supports, narrowed to what this model emulates, plus the
 * VMX-preemption timer pin control, which is offered whatever the level below has because
 * vmcs12's timer is emulated. IA32_VMX_MISC reports the emulated rate 5, HLT activity state
 * and VMWRITE to exit-information fields (0x20000065 with EFER.LMA storing, as v4.19).
 */
export function nestedCapabilityMsrs(below: VmxPlatform): Map<number, bigint> {
  const hostBasic = rdmsrOr(below, M.IA32_VMX_BASIC);
  const useTrue = (hostBasic & M.VMX_BASIC_TRUE_CTLS) !== 0n;
  const may = (plain: number, truer: number) =>
    Number((rdmsrOr(below, useTrue ? truer : plain) >> 32n) & 0xffffffffn) >>> 0;
  const pinMay = (may(M.IA32_VMX_PINBASED_CTLS, M.IA32_VMX_TRUE_PINBASED_CTLS) &
    (C.PIN_EXTINT | C.PIN_NMI | C.PIN_VIRT_NMI)) | C.PIN_PREEMPT | PIN_DEFAULT1;
  const procMay = (may(M.IA32_VMX_PROCBASED_CTLS, M.IA32_VMX_TRUE_PROCBASED_CTLS) &
    (C.CPU_INTR_WINDOW | C.CPU_USE_TSC_OFFSET | C.CPU_HLT | C.CPU_RDTSC | C.CPU_NMI_WINDOW | C.CPU_MTF | C.CPU_SECONDARY)) |
    PROC_DEFAULT1;
  const proc2May = may(M.IA32_VMX_PROCBASED_CTLS2, M.IA32_VMX_PROCBASED_CTLS2) & C.CPU2_WBINVD;
  const exitMay = (may(M.IA32_VMX_EXIT_CTLS, M.IA32_VMX_TRUE_EXIT_CTLS) &
    (C.EXI_SAVE_DBGCTLS | C.EXI_HOST_64 | C.EXI_ACK_INTR)) | C.EXI_SAVE_PREEMPT | EXIT_DEFAULT1;
  const entryMay = (may(M.IA32_VMX_ENTRY_CTLS, M.IA32_VMX_TRUE_ENTRY_CTLS) &
    (C.ENT_LOAD_DBGCTLS | C.ENT_GUEST_64)) | ENTRY_DEFAULT1;
  const hostMisc = rdmsrOr(below, M.IA32_VMX_MISC);
  const misc = BigInt(EMULATED_TIMER_RATE) | (hostMisc & (1n << 5n)) | (1n << 6n) | M.VMX_MISC_VMWRITE_ALL;
  const basic = BigInt(VMCS12_REVISION) | (4096n << 32n) | (6n << 50n) | (1n << 54n) | M.VMX_BASIC_TRUE_CTLS;
  return new Map<number, bigint>([
    [M.IA32_VMX_BASIC, basic],
    [M.IA32_VMX_PINBASED_CTLS, caps(PIN_DEFAULT1, pinMay)],
    [M.IA32_VMX_TRUE_PINBASED_CTLS, caps(PIN_DEFAULT1, pinMay)],
    [M.IA32_VMX_PROCBASED_CTLS, caps(PROC_DEFAULT1, procMay)],
    [M.IA32_VMX_TRUE_PROCBASED_CTLS, caps(PROC_DEFAULT1_TRUE, procMay)],
    [M.IA32_VMX_PROCBASED_CTLS2, caps(0, proc2May)],
    [M.IA32_VMX_EXIT_CTLS, caps(EXIT_DEFAULT1, exitMay)],
    [M.IA32_VMX_TRUE_EXIT_CTLS, caps(EXIT_DEFAULT1_TRUE, exitMay)],
    [M.IA32_VMX_ENTRY_CTLS, caps(ENTRY_DEFAULT1, entryMay)],
    [M.IA32_VMX_TRUE_ENTRY_CTLS, caps(ENTRY_DEFAULT1_TRUE, entryMay)],
    [M.IA32_VMX_MISC, misc],
    [M.IA32_VMX_CR0_FIXED0, rdmsrOr(below, M.IA32_VMX_CR0_FIXED0)],
    [M.IA32_VMX_CR0_FIXED1, rdmsrOr(below, M.IA32_VMX_CR0_FIXED1)],
    [M.IA32_VMX_CR4_FIXED0, rdmsrOr(below, M.IA32_VMX_CR4_FIXED0)],
    [M.IA32_VMX_CR4_FIXED1, rdmsrOr(below, M.IA32_VMX_CR4_FIXED1)],
    [M.IA32_VMX_VMCS_ENUM, 0x2en],
  ]);
}
