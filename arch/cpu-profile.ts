import * as M from './msr';

/** Cycle costs of guest instructions, transitions and host-side work on one CPU model. */
export interface CostModel {
  /** Ordinary data and branch instructions. */
  readonly simple: number;
  readonly rdtsc: number;
  readonly wbinvd: number;
  readonly hlt: number;
  readonly iret: number;
  /** Delivery of an exception or interrupt through the guest IDT. */
  readonly eventDelivery: number;
  /** VM entry (VMLAUNCH/VMRESUME until the first guest instruction may run). */
  readonly vmEntry: number;
  /** VM exit (guest instruction boundary until the host runs). */
  readonly vmExit: number;
  /** VMREAD, VMWRITE, VMPTRLD, VMCLEAR executed by the host. */
  readonly vmxInstruction: number;
  /** RDMSR/WRMSR and other host-side privileged instructions. */
  readonly hostInstruction: number;
  /** From a self-IPI's send to its arrival in the local APIC's IRR. */
  readonly ipiLatency: number;
}

/** A CPU model: identity, TSC, VMX capability MSRs, the actual timer clock and costs. */
export interface CpuProfile {
  readonly name: string;
  readonly description: string;
  /** CPUID.1:EAX (family, model, stepping). */
  readonly signature: number;
  readonly tscKhz: number;
  /** The capability and other MSRs this part implements; reading any other is #GP(0). */
  readonly msrs: ReadonlyMap<number, bigint>;
  /**
   * The TSC bit whose changes actually decrement the VMX-preemption timer. Equal to
   * IA32_VMX_MISC[4:0] on a correct part; different on parts with the rate errata.
   */
  readonly timerCountingBit: number;
  /** Name of the erratum that makes timerCountingBit differ from the reported rate. */
  readonly timerErratum?: string;
  readonly costs: CostModel;
  /** MAXPHYADDR: VMXON/VMCS pointers must fit in it (SDM 31.3). */
  readonly physAddrBits: number;
}

function msrs(entries: Array<[number, bigint]>): ReadonlyMap<number, bigint> {
  return new Map(entries);
}

const INTEL_COSTS: CostModel = {
  simple: 1,
  rdtsc: 25,
  // WBINVD writes back and invalidates every cache level; on a part with megabytes of
  // last-level cache that is tens of microseconds.
  wbinvd: 60_000,
  hlt: 1,
  iret: 40,
  eventDelivery: 80,
  vmEntry: 450,
  vmExit: 450,
  vmxInstruction: 20,
  hostInstruction: 50,
  ipiLatency: 200,
};

/**
 * Core i7 (Coffee Lake, CPUID 0x000906EA). Every capability MSR below is the value a
 * public VirtualBox release log of such a host printed (its "HM:" lines); the TSC rate is
 * CPUID leaf 0x15 of the same log (24 MHz x 216 / 2). Skylake-family server parts report
 * the same VMX capability set; no erratum touches its preemption timer.
 */
export const COFFEE_LAKE: CpuProfile = {
  name: 'coffee-lake',
  description: 'Intel Core i7 (Coffee Lake, 0x906EA), no timer errata, timer rate 7',
  signature: 0x000906ea,
  tscKhz: 2_592_000,
  msrs: msrs([
    [M.IA32_VMX_BASIC, 0x00da040000000004n],
    [M.IA32_VMX_PINBASED_CTLS, 0x0000007f00000016n],
    [M.IA32_VMX_PROCBASED_CTLS, 0xfff9fffe0401e172n],
    [M.IA32_VMX_EXIT_CTLS, 0x01ffffff00036dffn],
    [M.IA32_VMX_ENTRY_CTLS, 0x0003ffff000011ffn],
    [M.IA32_VMX_MISC, 0x000000007004c1e7n],
    [M.IA32_VMX_CR0_FIXED0, 0x80000021n],
    [M.IA32_VMX_CR0_FIXED1, 0xffffffffn],
    [M.IA32_VMX_CR4_FIXED0, 0x2000n],
    [M.IA32_VMX_CR4_FIXED1, 0x3727ffn],
    [M.IA32_VMX_VMCS_ENUM, 0x2en],
    [M.IA32_VMX_PROCBASED_CTLS2, 0x005fbcff00000000n],
    [M.IA32_VMX_EPT_VPID_CAP, 0x00000f0106734141n],
    [M.IA32_VMX_TRUE_PINBASED_CTLS, 0x0000007f00000016n],
    [M.IA32_VMX_TRUE_PROCBASED_CTLS, 0xfff9fffe04006172n],
    [M.IA32_VMX_TRUE_EXIT_CTLS, 0x01ffffff00036dfbn],
    [M.IA32_VMX_TRUE_ENTRY_CTLS, 0x0003ffff000011fbn],
    [M.IA32_VMX_VMFUNC, 0x1n],
  ]),
  timerCountingBit: 7,
  costs: INTEL_COSTS,
  physAddrBits: 39,
};

/**
 * Xeon 5500 / Core i7-900, stepping D0 (CPUID 0x000106A5), one of the signatures on KVM's
 * broken-preemption-timer list (erratum AAK139 / AAJ124: the timer does not count at the
 * rate IA32_VMX_MISC reports). The erratum gives no rate; this model counts on TSC bit 3
 * while MISC reports 5, so the timer runs four times fast. The capability MSRs are the
 * Nehalem generation's: no TRUE_* MSRs in use here (BASIC bit 55 clear), preemption timer and
 * its save control present, no posted interrupts.
 */
export const NEHALEM_AAK139: CpuProfile = {
  name: 'nehalem-aak139',
  description: 'Intel Xeon 5500 D0 (0x106A5), erratum AAK139: timer counts on TSC bit 3, MISC says 5',
  signature: 0x000106a5,
  tscKhz: 2_933_000,
  msrs: msrs([
    [M.IA32_VMX_BASIC, 0x005a04000000000en],
    [M.IA32_VMX_PINBASED_CTLS, 0x0000007f00000016n],
    [M.IA32_VMX_PROCBASED_CTLS, 0xfff9fffe0401e172n],
    [M.IA32_VMX_EXIT_CTLS, 0x007fffff00036dffn],
    [M.IA32_VMX_ENTRY_CTLS, 0x0000ffff000011ffn],
    [M.IA32_VMX_MISC, 0x00000000100401e5n],
    [M.IA32_VMX_CR0_FIXED0, 0x80000021n],
    [M.IA32_VMX_CR0_FIXED1, 0xffffffffn],
    [M.IA32_VMX_CR4_FIXED0, 0x2000n],
    [M.IA32_VMX_CR4_FIXED1, 0x67ffn],
    [M.IA32_VMX_VMCS_ENUM, 0x2cn],
    [M.IA32_VMX_PROCBASED_CTLS2, 0x0000004f00000000n],
    [M.IA32_VMX_EPT_VPID_CAP, 0x00000f0106114141n],
  ]),
  timerCountingBit: 3,
  timerErratum: 'AAK139',
  costs: { ...INTEL_COSTS, vmEntry: 650, vmExit: 650, wbinvd: 40_000 },
  physAddrBits: 40,
};

/**
 * Bochs 2.7 with its VMX support: the capability MSRs it reports (BASIC, PINBASED, EXIT and
 * MISC as Bochs prints them; the rest are Bochs' defaults for the same VMX level). Its MISC
 * reports timer rate 0 and its TSC advances one tick per instruction, so every cost is 1.
 */
export const BOCHS_2_7: CpuProfile = {
  name: 'bochs-2.7',
  description: 'Bochs 2.7 (VMX level 2), timer rate 0, one TSC tick per instruction',
  signature: 0x000306a9,
  tscKhz: 1_000_000,
  msrs: msrs([
    [M.IA32_VMX_BASIC, 0x00d810000000002bn],
    [M.IA32_VMX_PINBASED_CTLS, 0x0000007f00000016n],
    [M.IA32_VMX_PROCBASED_CTLS, 0xfff9fffe0401e172n],
    [M.IA32_VMX_EXIT_CTLS, 0x007fffff00036dffn],
    [M.IA32_VMX_ENTRY_CTLS, 0x0000f3ff000011ffn],
    [M.IA32_VMX_MISC, 0x00000000200401e0n],
    [M.IA32_VMX_CR0_FIXED0, 0x80000021n],
    [M.IA32_VMX_CR0_FIXED1, 0xffffffffn],
    [M.IA32_VMX_CR4_FIXED0, 0x2000n],
    [M.IA32_VMX_CR4_FIXED1, 0x1767ffn],
    [M.IA32_VMX_VMCS_ENUM, 0x2cn],
    [M.IA32_VMX_PROCBASED_CTLS2, 0x000077ff00000000n],
    [M.IA32_VMX_EPT_VPID_CAP, 0x00000f0106114141n],
    [M.IA32_VMX_TRUE_PINBASED_CTLS, 0x0000007f00000016n],
    [M.IA32_VMX_TRUE_PROCBASED_CTLS, 0xfff9fffe0401e172n],
    [M.IA32_VMX_TRUE_EXIT_CTLS, 0x007fffff00036dffn],
    [M.IA32_VMX_TRUE_ENTRY_CTLS, 0x0000f3ff000011ffn],
  ]),
  timerCountingBit: 0,
  costs: {
    simple: 1, rdtsc: 1, wbinvd: 1, hlt: 1, iret: 1, eventDelivery: 1,
    vmEntry: 1, vmExit: 1, vmxInstruction: 1, hostInstruction: 1, ipiLatency: 0,
  },
  physAddrBits: 40,
};

export const CPU_PROFILES: readonly CpuProfile[] = [COFFEE_LAKE, NEHALEM_AAK139, BOCHS_2_7];

export function findProfile(name: string): CpuProfile | undefined {
  return CPU_PROFILES.find((p) => p.name === name);
}

/** A copy of a profile with other costs (for example a longer IPI latency). */
export function withCosts(profile: CpuProfile, costs: Partial<CostModel>, name?: string): CpuProfile {
  return { ...profile, name: name ?? profile.name, costs: { ...profile.costs, ...costs } };
}
