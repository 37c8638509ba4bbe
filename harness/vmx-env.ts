import { CpuFault } from '../arch/fault';
import { Assembler, loadProgram } from '../arch/guest/assembler';
import { GuestView, Program } from '../arch/guest/isa';
import { PAGE_SIZE } from '../arch/memory';
import * as M from '../arch/msr';
import { VmxPlatform } from '../arch/platform';
import { VMCS, fieldName } from '../arch/vmcs-fields';
import * as C from '../arch/vmx-constants';
import { VmxStatus } from '../arch/vmx-operation';
import { Reporter } from './report';

/** Ends a test early, as kvm-unit-tests' abort(): the run is reported as failed with this reason. */
export class TestAbort extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TestAbort';
  }
}

/** A capability MSR as kvm-unit-tests keeps it: `set` must be 1, `clr` may be 1. */
export interface CtrlRev {
  readonly set: number;
  readonly clr: number;
}

const HYPERCALL_BIT = 0x1000;
const HYPERCALL_VMEXIT = 0x1;
const GUEST_CODE_PAGES = 4;

/**
 * What a test sees of the VMX machine, mirroring kvm-unit-tests' x86/vmx.c: the capability
 * snapshot (ctrl_pin_rev, ...), VMCS access, the shared test stage, guest code placement and the
 * report API. One instance per run.
 */
export class VmxEnv {
  readonly basic: bigint;
  readonly misc: bigint;
  readonly ctrlPinRev: CtrlRev;
  readonly ctrlCpuRev: readonly [CtrlRev, CtrlRev];
  readonly ctrlExitRev: CtrlRev;
  readonly ctrlEnterRev: CtrlRev;
  readonly stageAddr: number;
  readonly hypercallAddr: number;
  readonly idtBase: number;
  readonly stackTop: number;
  private readonly dataPage: number;
  private nextData = 16;
  private codeBase: number;
  private codeEnd: number;
  vmcsAddr = 0;

  constructor(readonly platform: VmxPlatform, readonly reporter: Reporter, readonly print: (line: string) => void) {
    const mem = platform.memory;
    this.basic = platform.rdmsr(M.IA32_VMX_BASIC);
    const useTrue = (this.basic & M.VMX_BASIC_TRUE_CTLS) !== 0n;
    const rev = (plain: number, truer: number): CtrlRev => {
      const v = platform.rdmsr(useTrue ? truer : plain);
      return { set: Number(v & 0xffffffffn) >>> 0, clr: Number(v >> 32n) >>> 0 };
    };
    this.ctrlPinRev = rev(M.IA32_VMX_PINBASED_CTLS, M.IA32_VMX_TRUE_PINBASED_CTLS);
    const cpu0 = rev(M.IA32_VMX_PROCBASED_CTLS, M.IA32_VMX_TRUE_PROCBASED_CTLS);
    const cpu1 = (cpu0.clr & C.CPU_SECONDARY) !== 0 ? rev(M.IA32_VMX_PROCBASED_CTLS2, M.IA32_VMX_PROCBASED_CTLS2) : { set: 0, clr: 0 };
    this.ctrlCpuRev = [cpu0, cpu1];
    this.ctrlExitRev = rev(M.IA32_VMX_EXIT_CTLS, M.IA32_VMX_TRUE_EXIT_CTLS);
    this.ctrlEnterRev = rev(M.IA32_VMX_ENTRY_CTLS, M.IA32_VMX_TRUE_ENTRY_CTLS);
    this.misc = platform.rdmsr(M.IA32_VMX_MISC);
    this.dataPage = mem.allocPage();
    this.stageAddr = this.dataPage;
    this.hypercallAddr = this.dataPage + 8;
    this.idtBase = mem.allocPage();
    mem.allocPage();
    this.stackTop = mem.allocPage() + PAGE_SIZE;
    this.codeBase = mem.allocPage();
    for (let i = 1; i < GUEST_CODE_PAGES; i++) mem.allocPage();
    this.codeEnd = this.codeBase + GUEST_CODE_PAGES * PAGE_SIZE;
  }

  // ---- shared memory ------------------------------------------------------------------

  /** A word of memory shared by host and guest (a global variable of the test). */
  allocWord(initial = 0): number {
    const addr = this.dataPage + this.nextData * 8;
    this.nextData++;
    this.platform.memory.write(addr, initial);
    return addr;
  }

  read(addr: number): number {
    return this.platform.memory.read(addr);
  }

  write(addr: number, value: number): void {
    this.platform.memory.write(addr, value);
  }

  /** vmx_get_test_stage / vmx_set_test_stage. */
  get stage(): number {
    return this.read(this.stageAddr);
  }

  set stage(value: number) {
    this.write(this.stageAddr, value);
  }

  /** Guest side of the stage: `g.mem.read(stageAddr)`. */
  guestStage(g: GuestView): number {
    return g.mem.read(this.stageAddr);
  }

  /** Emits `vmx_set_test_stage(n)` into guest code. */
  emitSetStage(a: Assembler, n: number): void {
    const addr = this.stageAddr;
    a.alu(`mov [stage], ${n}`, (g) => g.mem.write(addr, n), 10);
  }

  /** Emits the stage increment `vmx_inc_test_stage()`. */
  emitIncStage(a: Assembler): void {
    const addr = this.stageAddr;
    a.alu('inc [stage]', (g) => g.mem.write(addr, g.mem.read(addr) + 1), 7);
  }

  /** Installs an exception handler in the guest IDT (handle_exception). */
  setIdtHandler(vector: number, handler: number): void {
    this.write(this.idtBase + vector * 16, handler);
  }

  /** A fresh assembler for guest code, placed in this run's code pages. */
  assembler(): Assembler {
    return new Assembler(this.codeBase);
  }

  /** Places guest code; later code goes after it. */
  place(a: Assembler): Program {
    const prog = a.assemble();
    if (prog.end > this.codeEnd) throw new TestAbort('guest code does not fit its pages');
    loadProgram(this.platform.memory, prog);
    this.codeBase = prog.end;
    return prog;
  }

  /** Emits the guest's final hypercall: the framework's "guest finished" VMCALL. */
  emitExitHypercall(a: Assembler): void {
    const addr = this.hypercallAddr;
    a.alu('mov [hypercall], VMEXIT', (g) => g.mem.write(addr, HYPERCALL_BIT | HYPERCALL_VMEXIT), 10);
    a.vmcall();
  }

  /** Whether the last VMCALL was the framework's hypercall (and consume it). */
  takeHypercall(): boolean {
    const v = this.read(this.hypercallAddr);
    if ((v & HYPERCALL_BIT) === 0) return false;
    this.write(this.hypercallAddr, 0);
    return true;
  }

  // ---- instructions ------------------------------------------------------------------

  rdtsc(): number {
    return this.platform.rdtsc();
  }

  rdmsr(index: number): bigint {
    return this.platform.rdmsr(index);
  }

  vmcsRead(field: number): bigint {
    const r = this.platform.vmread(field);
    if (r.status !== 'VMsucceed') throw new TestAbort(`vmcs_read(${fieldName(field)}) failed: ${r.status}`);
    return r.value;
  }

  /** vmcs_read as a number (every field the suites compute with fits in 53 bits). */
  vmcsReadNum(field: number): number {
    return Number(this.vmcsRead(field));
  }

  vmcsWrite(field: number, value: bigint | number): void {
    const status = this.platform.vmwrite(field, BigInt(value));
    if (status !== 'VMsucceed') throw new TestAbort(`vmcs_write(${fieldName(field)}) failed: ${status}`);
  }

  vmcsSetBits(field: number, bits: number): void {
    this.vmcsWrite(field, this.vmcsReadNum(field) | bits);
  }

  vmcsClearBits(field: number, bits: number): void {
    this.vmcsWrite(field, (this.vmcsReadNum(field) & ~bits) >>> 0);
  }

  /** VMfail's VM-instruction error, as vmcs_read(VMX_INST_ERROR). */
  instructionError(): number {
    return this.vmcsReadNum(VMCS.VM_INSTRUCTION_ERROR);
  }

  // ---- VMX setup (x86/vmx.c: vmx_on, init_vmcs) ----------------------------------------

  /** Enables VMX operation: IA32_FEATURE_CONTROL, CR4.VMXE, VMXON. */
  vmxOn(): void {
    const p = this.platform;
    const fc = p.rdmsr(M.IA32_FEATURE_CONTROL);
    if ((fc & M.FEATURE_CONTROL_LOCKED) === 0n) p.wrmsr(M.IA32_FEATURE_CONTROL, fc | M.FEATURE_CONTROL_LOCKED | M.FEATURE_CONTROL_VMXON_OUTSIDE_SMX);
    p.writeCr4(p.readCr4() | C.CR4_VMXE);
    const region = p.memory.allocPage();
    p.memory.setRevision(region, M.vmxBasicRevision(this.basic));
    const status = p.vmxon(region);
    if (status !== 'VMsucceed') throw new TestAbort(`vmxon failed: ${status}`);
  }

  /** A new VMCS, cleared, made current and initialised as init_vmcs does. */
  initVmcs(guestRip: number): void {
    const p = this.platform;
    const addr = p.memory.allocPage();
    p.memory.setRevision(addr, M.vmxBasicRevision(this.basic));
    expectSucceed(p.vmclear(addr), 'vmclear');
    expectSucceed(p.vmptrld(addr), 'vmptrld');
    this.vmcsAddr = addr;
    const fit = (want: number, rev: CtrlRev) => ((want | rev.set) & rev.clr) >>> 0;
    this.vmcsWrite(VMCS.PIN_BASED_VM_EXEC_CONTROL, fit(C.PIN_EXTINT | C.PIN_NMI | C.PIN_VIRT_NMI, this.ctrlPinRev));
    this.vmcsWrite(VMCS.CPU_BASED_VM_EXEC_CONTROL, fit(0, this.ctrlCpuRev[0]));
    this.vmcsWrite(VMCS.SECONDARY_VM_EXEC_CONTROL, 0);
    this.vmcsWrite(VMCS.VM_EXIT_CONTROLS, fit(C.EXI_HOST_64, this.ctrlExitRev));
    this.vmcsWrite(VMCS.VM_ENTRY_CONTROLS, fit(C.ENT_GUEST_64, this.ctrlEnterRev));
    this.vmcsWrite(VMCS.EXCEPTION_BITMAP, 0);
    this.vmcsWrite(VMCS.HOST_CR4, p.readCr4());
    this.vmcsWrite(VMCS.HOST_RIP, 0x1000);
    this.vmcsWrite(VMCS.VMCS_LINK_POINTER, 0xffffffffffffffffn);
    this.vmcsWrite(VMCS.GUEST_RIP, guestRip);
    this.vmcsWrite(VMCS.GUEST_RSP, this.stackTop);
    this.vmcsWrite(VMCS.GUEST_RFLAGS, C.RFLAGS_FIXED);
    this.vmcsWrite(VMCS.GUEST_ACTIVITY_STATE, C.ACTIVITY_ACTIVE);
    this.vmcsWrite(VMCS.GUEST_IDTR_BASE, this.idtBase);
    this.vmcsWrite(VMCS.GUEST_IDTR_LIMIT, 0xfff);
  }

  /** Prints the exit information, as print_vmexit_info. */
  printExitInfo(): void {
    const reason = this.vmcsReadNum(VMCS.VM_EXIT_REASON);
    this.print(`VMEXIT info:`);
    this.print(`\tvmexit reason = ${reason & 0xffff}`);
    this.print(`\texit qualification = 0x${this.vmcsReadNum(VMCS.EXIT_QUALIFICATION).toString(16)}`);
    this.print(`\tguest_rip = 0x${this.vmcsReadNum(VMCS.GUEST_RIP).toString(16)}`);
  }
}

export function expectSucceed(status: VmxStatus, what: string): void {
  if (status !== 'VMsucceed') throw new TestAbort(`${what} failed: ${status}`);
}

/** The message for an unexpected #GP/#UD raised by host-side test code. */
export function faultMessage(e: CpuFault): string {
  return `Unhandled exception ${e.vector} ${e.mnemonic}: ${e.message}`;
}
