import { CpuFault, generalProtection, undefinedOpcode } from './fault';
import { PAGE_SIZE, PhysicalMemory } from './memory';
import * as M from './msr';
import { Vmcs } from './vmcs';
import { fieldInfo, VMCS } from './vmcs-fields';
import { checkControls, checkHostState, VmxControlCaps } from './controls';
import { CR4_VMXE, VMXERR } from './vmx-constants';

/** Outcome of a VMX instruction (SDM 31.2): VMsucceed, VMfailInvalid (CF=1), VMfailValid (ZF=1). */
export type VmxStatus = 'VMsucceed' | 'VMfailInvalid' | 'VMfailValid';

/** What one logical processor (real or emulated) needs to execute the VMX instructions. */
export interface VmxHost {
  readonly memory: PhysicalMemory;
  /** Reads one of this processor's MSRs; undefined when it does not exist. */
  msr(index: number): bigint | undefined;
  cr4(): bigint;
  readonly physAddrBits: number;
}

/**
 * The VMX-instruction state machine of SDM ch. 31 (VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST,
 * VMREAD, VMWRITE, and the checks of VMLAUNCH/VMRESUME before the entry proper). The hardware
 * uses it for its VMCSs; each Kvm level uses it for its guest's vmcs12s.
 */
export class VmxOperation {
  inVmxOperation = false;
  vmxonPointer = -1;
  current: Vmcs | null = null;
  /** Incremented by VMXOFF: a VMCS launched in an earlier session cannot be resumed. */
  epoch = 0;
  private readonly regions = new Map<number, Vmcs>();

  constructor(private readonly host: VmxHost) {}

  get revision(): number {
    return M.vmxBasicRevision(this.host.msr(M.IA32_VMX_BASIC) ?? 0n);
  }

  private requireVmx(insn: string): void {
    if (!this.inVmxOperation) throw undefinedOpcode(`${insn} outside VMX operation`);
  }

  /** VMfail (SDM 31.2): VMfailValid with the error number when a VMCS is current. */
  fail(error: number): VmxStatus {
    if (this.current === null) return 'VMfailInvalid';
    this.current.setNum(VMCS.VM_INSTRUCTION_ERROR, error);
    return 'VMfailValid';
  }

  private validAddress(addr: number): boolean {
    return Number.isInteger(addr) && addr >= 0 && addr % PAGE_SIZE === 0 && addr < 2 ** this.host.physAddrBits;
  }

  /** VMXON (SDM 31.3). */
  vmxon(addr: number): VmxStatus {
    if ((this.host.cr4() & CR4_VMXE) === 0n) throw undefinedOpcode('VMXON with CR4.VMXE = 0');
    if (this.inVmxOperation) return this.fail(VMXERR.VMXON_IN_VMX_ROOT);
    const fc = this.host.msr(M.IA32_FEATURE_CONTROL) ?? 0n;
    if ((fc & M.FEATURE_CONTROL_LOCKED) === 0n || (fc & M.FEATURE_CONTROL_VMXON_OUTSIDE_SMX) === 0n) {
      throw generalProtection('VMXON with IA32_FEATURE_CONTROL not locked with VMXON enabled');
    }
    // Bits 30:0 must be the revision identifier and bit 31 must be 0 (SDM 31.3 VMXON).
    if (!this.validAddress(addr) || this.host.memory.revisionAt(addr) !== this.revision) return 'VMfailInvalid';
    this.inVmxOperation = true;
    this.vmxonPointer = addr;
    this.current = null;
    return 'VMsucceed';
  }

  /** VMCALL in VMX root operation without the dual-monitor treatment (SDM 31.3): VMfail(1). */
  vmcallInRoot(): VmxStatus {
    this.requireVmx('VMCALL');
    return this.fail(VMXERR.VMCALL_IN_ROOT);
  }

  /** VMXOFF (SDM 31.3). */
  vmxoff(): VmxStatus {
    this.requireVmx('VMXOFF');
    this.inVmxOperation = false;
    this.vmxonPointer = -1;
    this.current = null;
    this.epoch++;
    return 'VMsucceed';
  }

  /** VMCLEAR (SDM 31.3). */
  vmclear(addr: number): VmxStatus {
    this.requireVmx('VMCLEAR');
    if (!this.validAddress(addr)) return this.fail(VMXERR.VMCLEAR_INVALID_ADDRESS);
    if (addr === this.vmxonPointer) return this.fail(VMXERR.VMCLEAR_VMXON_POINTER);
    const vmcs = this.regionAt(addr);
    vmcs.launchState = 'clear';
    if (this.current === vmcs) this.current = null;
    return 'VMsucceed';
  }

  /** VMPTRLD (SDM 31.3). */
  vmptrld(addr: number): VmxStatus {
    this.requireVmx('VMPTRLD');
    if (!this.validAddress(addr)) return this.fail(VMXERR.VMPTRLD_INVALID_ADDRESS);
    if (addr === this.vmxonPointer) return this.fail(VMXERR.VMPTRLD_VMXON_POINTER);
    // Bit 31 (shadow VMCS) needs VMCS shadowing, which this model does not offer (SDM 31.3 VMPTRLD).
    if (this.host.memory.revisionAt(addr) !== this.revision) return this.fail(VMXERR.VMPTRLD_INCORRECT_REVISION_ID);
    this.current = this.regionAt(addr);
    return 'VMsucceed';
  }

  /** VMPTRST (SDM 31.3): the current-VMCS pointer, all ones when there is none. */
  vmptrst(): { status: VmxStatus; pointer: bigint } {
    this.requireVmx('VMPTRST');
    return { status: 'VMsucceed', pointer: this.current === null ? 0xffffffffffffffffn : BigInt(this.current.address) };
  }

  /** VMREAD (SDM 31.3). */
  vmread(encoding: number): { status: VmxStatus; value: bigint } {
    this.requireVmx('VMREAD');
    if (this.current === null) return { status: 'VMfailInvalid', value: 0n };
    const info = fieldInfo(encoding);
    if (info === undefined) return { status: this.fail(VMXERR.UNSUPPORTED_VMCS_COMPONENT), value: 0n };
    return { status: 'VMsucceed', value: this.current.read(info) };
  }

  /** VMWRITE (SDM 31.3): exit-information fields are read-only unless IA32_VMX_MISC bit 29. */
  vmwrite(encoding: number, value: bigint): VmxStatus {
    this.requireVmx('VMWRITE');
    if (this.current === null) return 'VMfailInvalid';
    const info = fieldInfo(encoding);
    if (info === undefined) return this.fail(VMXERR.UNSUPPORTED_VMCS_COMPONENT);
    const misc = this.host.msr(M.IA32_VMX_MISC) ?? 0n;
    if (info.type === 'exit-info' && (misc & M.VMX_MISC_VMWRITE_ALL) === 0n) {
      return this.fail(VMXERR.VMWRITE_READ_ONLY_COMPONENT);
    }
    this.current.write(info, value);
    return 'VMsucceed';
  }

  /**
   * The checks VMLAUNCH/VMRESUME make before loading guest state (SDM 31.3, 27.1, 27.2):
   * launch state, then controls, then host state. Returns the VMCS to enter, or the failure.
   */
  checkEntry(launch: boolean, caps: VmxControlCaps): Vmcs | VmxStatus {
    this.requireVmx(launch ? 'VMLAUNCH' : 'VMRESUME');
    const vmcs = this.current;
    if (vmcs === null) return 'VMfailInvalid';
    if (launch && vmcs.launchState !== 'clear') return this.fail(VMXERR.VMLAUNCH_NONCLEAR_VMCS);
    if (!launch && vmcs.launchState !== 'launched') return this.fail(VMXERR.VMRESUME_NONLAUNCHED_VMCS);
    if (!launch && vmcs.launchEpoch !== this.epoch) return this.fail(VMXERR.VMRESUME_AFTER_VMXOFF);
    const control = checkControls(vmcs, caps);
    if (control !== 0) return this.fail(control);
    const host = checkHostState(vmcs);
    if (host !== 0) return this.fail(host);
    return vmcs;
  }

  /** Marks a VMCS launched after a VM entry that got past its checks (SDM 27.3). */
  markLaunched(vmcs: Vmcs): void {
    vmcs.launchState = 'launched';
    vmcs.launchEpoch = this.epoch;
  }

  regionAt(addr: number): Vmcs {
    let vmcs = this.regions.get(addr);
    if (vmcs === undefined) {
      vmcs = new Vmcs(addr);
      this.regions.set(addr, vmcs);
    }
    return vmcs;
  }

  /** A VMCS already known at an address, without creating one. */
  knownRegion(addr: number): Vmcs | undefined {
    return this.regions.get(addr);
  }
}

export function isFault(e: unknown): e is CpuFault {
  return e instanceof CpuFault;
}
