import { CostModel, CpuProfile } from './cpu-profile';
import { checkGuestState, readControlCaps, VmxControlCaps } from './controls';
import { EventQueue } from './event-queue';
import { BudgetExceeded, generalProtection } from './fault';
import { GuestView, Insn, RAX, RDX } from './guest/isa';
import { PhysicalMemory } from './memory';
import * as M from './msr';
import { VmxPlatform } from './platform';
import { timerDeadline, timerRemaining } from './preemption-timer';
import { Vmcs } from './vmcs';
import { VMCS } from './vmcs-fields';
import * as C from './vmx-constants';
import { VmxOperation, VmxStatus } from './vmx-operation';

/** Limits on one machine's run: a runaway guest stops here and is reported, never hangs. */
export interface Budget {
  /** Guest instructions the simulator may execute one at a time during one stay in the guest. */
  readonly steps: number;
  /** TSC cycles the machine may advance. */
  readonly cycles: number;
}

export const DEFAULT_BUDGET: Budget = { steps: 20_000_000, cycles: 2 ** 44 };

export interface HardwareOptions {
  readonly profile: CpuProfile;
  readonly memory?: PhysicalMemory;
  readonly budget?: Budget;
  /** Retire whole iterations of TSC polling loops between events (exact; off for cross-checks). */
  readonly fastForward?: boolean;
}

/** Statistics of one machine's run. */
export interface HardwareStats {
  vmEntries: number;
  vmExits: number;
  retired: number;
}

type ExitInfo = { qualification?: number; intrInfo?: number; insnLen?: number };

/**
 * One logical processor with VMX (SDM Vol. 3C). Software at the bottom level (a native test
 * or the outermost Kvm) runs in VMX root operation on it; guest code runs instruction by
 * instruction in VMX non-root operation with the architectural event checks between
 * instructions.
 */
export class Hardware implements VmxPlatform {
  readonly memory: PhysicalMemory;
  readonly profile: CpuProfile;
  readonly stats: HardwareStats = { vmEntries: 0, vmExits: 0, retired: 0 };
  private readonly costs: CostModel;
  private readonly budget: Budget;
  private readonly fastForward: boolean;
  private readonly vmx: VmxOperation;
  private readonly caps: VmxControlCaps;
  private readonly queue = new EventQueue();
  /** Interrupt requests pending for the root-mode software (the local APIC's IRR). */
  private readonly irr = new Set<number>();
  private readonly counters = new Map<number, number>();
  private handler: (vector: number) => void = () => undefined;
  private tsc = 0;
  private cr4 = 0n;
  private featureControl = 0n;

  constructor(opts: HardwareOptions) {
    this.profile = opts.profile;
    this.costs = opts.profile.costs;
    this.memory = opts.memory ?? new PhysicalMemory();
    this.budget = opts.budget ?? DEFAULT_BUDGET;
    this.fastForward = opts.fastForward ?? true;
    this.vmx = new VmxOperation({
      memory: this.memory,
      msr: (i) => this.readMsr(i),
      cr4: () => this.cr4,
      physAddrBits: opts.profile.physAddrBits,
    });
    this.caps = readControlCaps((i) => this.profile.msrs.get(i));
  }

  // ---- identity, MSRs, control registers -------------------------------------------------

  cpuidSignature(): number {
    return this.profile.signature;
  }

  tscKhz(): number {
    return this.profile.tscKhz;
  }

  rdtsc(): number {
    return this.tsc;
  }

  private readMsr(index: number): bigint | undefined {
    if (index === M.IA32_FEATURE_CONTROL) return this.featureControl;
    if (index === M.IA32_TSC) return BigInt(this.tsc);
    return this.profile.msrs.get(index);
  }

  rdmsr(index: number): bigint {
    this.tsc += this.costs.hostInstruction;
    const v = this.readMsr(index);
    if (v === undefined) throw generalProtection(`RDMSR of absent ${M.msrName(index)}`);
    return v;
  }

  wrmsr(index: number, value: bigint): void {
    this.tsc += this.costs.hostInstruction;
    if (index === M.IA32_FEATURE_CONTROL) {
      // Writes to a locked IA32_FEATURE_CONTROL fault (SDM 23.7).
      if ((this.featureControl & M.FEATURE_CONTROL_LOCKED) !== 0n) throw generalProtection('IA32_FEATURE_CONTROL is locked');
      this.featureControl = value;
      return;
    }
    throw generalProtection(`WRMSR to read-only or absent ${M.msrName(index)}`);
  }

  readCr4(): bigint {
    return this.cr4;
  }

  writeCr4(value: bigint): void {
    this.cr4 = value;
  }

  // ---- VMX instructions ----------------------------------------------------------------

  private vmxInsn<T>(f: () => T): T {
    this.tsc += this.costs.vmxInstruction;
    return f();
  }

  vmxon(addr: number): VmxStatus { return this.vmxInsn(() => this.vmx.vmxon(addr)); }
  vmxoff(): VmxStatus { return this.vmxInsn(() => this.vmx.vmxoff()); }
  vmclear(addr: number): VmxStatus { return this.vmxInsn(() => this.vmx.vmclear(addr)); }
  vmptrld(addr: number): VmxStatus { return this.vmxInsn(() => this.vmx.vmptrld(addr)); }
  vmptrst(): { status: VmxStatus; pointer: bigint } { return this.vmxInsn(() => this.vmx.vmptrst()); }
  vmread(field: number): { status: VmxStatus; value: bigint } { return this.vmxInsn(() => this.vmx.vmread(field)); }
  vmwrite(field: number, value: bigint): VmxStatus { return this.vmxInsn(() => this.vmx.vmwrite(field, value)); }

  vmcall(): VmxStatus {
    // VMCALL in VMX root operation without the dual-monitor treatment (SDM 31.3).
    return this.vmxInsn(() => this.vmx.vmcallInRoot());
  }

  guestRegisters(): Float64Array {
    if (this.vmx.current === null) throw new Error('no current VMCS');
    return this.vmx.current.gprs;
  }

  vmlaunch(): VmxStatus {
    return this.enter(true);
  }

  vmresume(): VmxStatus {
    return this.enter(false);
  }

  // ---- time and the local APIC -----------------------------------------------------------

  spend(cycles: number): void {
    this.tsc += cycles;
  }

  guestEntryCost(): number {
    return this.costs.vmEntry;
  }

  guestExitCost(): number {
    return this.costs.vmExit;
  }

  onInterrupt(handler: (vector: number) => void): void {
    this.handler = handler;
  }

  sendSelfIpi(vector: number): void {
    this.queue.schedule(this.tsc + this.costs.ipiLatency, vector, 'ipi');
  }

  armTimer(vector: number, deadline: number): void {
    this.queue.cancel(vector, 'timer');
    this.queue.schedule(deadline, vector, 'timer');
  }

  cancelTimer(vector: number): void {
    this.queue.cancel(vector, 'timer');
  }

  armInstructionCounter(vector: number, count: number): void {
    this.counters.set(vector, this.stats.retired + count);
  }

  cancelInstructionCounter(vector: number): void {
    this.counters.delete(vector);
  }

  private collectDue(): void {
    if (this.queue.nextTime() <= this.tsc) for (const ev of this.queue.takeDue(this.tsc)) this.irr.add(ev.vector);
    if (this.counters.size > 0) {
      for (const [vector, at] of this.counters) {
        if (this.stats.retired >= at) {
          this.counters.delete(vector);
          this.irr.add(vector);
        }
      }
    }
  }

  processInterrupts(): void {
    this.collectDue();
    while (this.irr.size > 0) {
      const vector = Math.max(...this.irr);
      this.irr.delete(vector);
      this.handler(vector);
      this.collectDue();
    }
  }

  waitForInterrupt(): void {
    this.collectDue();
    if (this.irr.size === 0) {
      const next = this.queue.nextTime();
      if (!Number.isFinite(next)) throw new BudgetExceeded('halted in VMX root operation with no interrupt left to wake it');
      this.tsc = Math.max(this.tsc, next);
      this.checkCycleBudget();
    }
    this.processInterrupts();
  }

  private checkCycleBudget(): void {
    if (this.tsc > this.budget.cycles) throw new BudgetExceeded(`TSC passed the budget of ${this.budget.cycles} cycles`);
  }

  // ---- VM entry, guest execution, VM exit --------------------------------------------------

  private enter(launch: boolean): VmxStatus {
    this.tsc += this.costs.vmxInstruction;
    const checked = this.vmx.checkEntry(launch, this.caps);
    if (typeof checked === 'string') return checked;
    const vmcs = checked;
    this.stats.vmEntries++;
    this.tsc += this.costs.vmEntry;
    // Checks on the guest-state area (SDM 27.3.1): failure is a VM exit with reason 33, bit 31 set.
    const guestError = checkGuestState(vmcs, this.profile.msrs.get(M.IA32_VMX_MISC) ?? 0n);
    if (guestError !== 0) {
      vmcs.setNum(VMCS.VM_EXIT_REASON, C.EXIT_REASON_FAILED_VMENTRY | C.EXIT_REASON.ENTRY_FAIL_GUEST_STATE);
      vmcs.setNum(VMCS.EXIT_QUALIFICATION, guestError);
      this.stats.vmExits++;
      this.tsc += this.costs.vmExit;
      return 'VMsucceed';
    }
    this.vmx.markLaunched(vmcs);
    new GuestRun(this, vmcs).run();
    return 'VMsucceed';
  }

  /** @internal State GuestRun needs. */
  get internals() {
    return {
      costs: this.costs,
      budget: this.budget,
      fastForward: this.fastForward,
      queue: this.queue,
      irr: this.irr,
      counters: this.counters,
      getTsc: () => this.tsc,
      setTsc: (t: number) => { this.tsc = t; },
      collectDue: () => this.collectDue(),
      checkCycleBudget: () => this.checkCycleBudget(),
    };
  }
}

/** One stay in VMX non-root operation: from VM entry to VM exit (SDM ch. 26-28). */
class GuestRun {
  private readonly hw: Hardware['internals'];
  private readonly view: GuestView;
  private readonly regs: Float64Array;
  private rip: number;
  private rsp: number;
  private rflags: number;
  private activity: number;
  private pendingDbg: number;
  private readonly pin: number;
  private readonly proc: number;
  private readonly proc2: number;
  private readonly exitCtls: number;
  private readonly bitmap: number;
  private readonly tscOffset: number;
  private readonly timerActive: boolean;
  private readonly timerValue: number;
  private readonly timerStart: number;
  private readonly timerExpiry: number;
  private readonly timerBit: number;
  /** A #DB trap recognized but not yet delivered (single step, or pending debug exceptions from entry). */
  private debugTrap = false;

  constructor(private readonly machine: Hardware, private readonly vmcs: Vmcs) {
    this.hw = machine.internals;
    this.regs = vmcs.gprs;
    this.view = { regs: this.regs, mem: machine.memory };
    this.rip = vmcs.num(VMCS.GUEST_RIP);
    this.rsp = vmcs.num(VMCS.GUEST_RSP);
    this.rflags = vmcs.num(VMCS.GUEST_RFLAGS);
    this.activity = vmcs.num(VMCS.GUEST_ACTIVITY_STATE);
    this.pendingDbg = vmcs.num(VMCS.GUEST_PENDING_DBG_EXCEPTIONS);
    this.pin = vmcs.num(VMCS.PIN_BASED_VM_EXEC_CONTROL);
    this.proc = vmcs.num(VMCS.CPU_BASED_VM_EXEC_CONTROL);
    this.proc2 = (this.proc & C.CPU_SECONDARY) !== 0 ? vmcs.num(VMCS.SECONDARY_VM_EXEC_CONTROL) : 0;
    this.exitCtls = vmcs.num(VMCS.VM_EXIT_CONTROLS);
    this.bitmap = vmcs.num(VMCS.EXCEPTION_BITMAP);
    this.tscOffset = (this.proc & C.CPU_USE_TSC_OFFSET) !== 0 ? Number(BigInt.asIntN(64, vmcs.get(VMCS.TSC_OFFSET))) : 0;
    this.timerBit = machine.profile.timerCountingBit;
    this.timerActive = (this.pin & C.PIN_PREEMPT) !== 0;
    this.timerValue = vmcs.num(VMCS.VMX_PREEMPTION_TIMER_VALUE);
    // The timer starts counting from its field's value at VM entry (SDM 26.5.1).
    this.timerStart = this.hw.getTsc();
    this.timerExpiry = this.timerActive ? timerDeadline(this.timerBit, this.timerStart, this.timerValue) : Infinity;
  }

  private get tsc(): number {
    return this.hw.getTsc();
  }

  private advance(cycles: number): void {
    this.hw.setTsc(this.hw.getTsc() + cycles);
  }

  run(): void {
    // Event injection (SDM 27.6): delivered through the guest IDT, never intercepted by the bitmap.
    const inject = this.vmcs.num(VMCS.VM_ENTRY_INTR_INFO_FIELD);
    if ((inject & C.INTR_INFO_VALID) !== 0) {
      this.deliver(inject & 0xff);
      this.activity = C.ACTIVITY_ACTIVE;
    }
    // Pending debug exceptions loaded by VM entry are recognized at the first boundary (SDM 27.7.3).
    this.debugTrap = (this.pendingDbg & C.PENDING_DBG_BS) !== 0;
    this.pendingDbg = 0;
    const stepBudget = this.hw.budget.steps;
    let steps = 0;
    for (;;) {
      this.hw.collectDue();
      // Priority among events on an instruction boundary (SDM 7.9; the timer's place, SDM 26.5.1): debug traps of the
      // previous instruction, then the VMX-preemption timer, then external interrupts.
      if (this.debugTrap) {
        this.debugTrap = false;
        if ((this.bitmap & (1 << C.DB_VECTOR)) !== 0) {
          return this.exit(C.EXIT_REASON.EXCEPTION_NMI, {
            intrInfo: C.INTR_INFO_VALID | C.INTR_TYPE_HARD_EXCEPTION | C.DB_VECTOR,
            qualification: C.PENDING_DBG_BS,
          });
        }
        this.deliver(C.DB_VECTOR);
        continue;
      }
      // The timer counts in every state but causes no exit in wait-for-SIPI (SDM 26.5.1).
      if (this.tsc >= this.timerExpiry && this.activity !== C.ACTIVITY_WAIT_SIPI) return this.exit(C.EXIT_REASON.PREEMPTION_TIMER, {});
      if (this.hw.irr.size > 0 && (this.pin & C.PIN_EXTINT) !== 0) return this.exit(C.EXIT_REASON.EXTERNAL_INTERRUPT, {});
      if (this.activity !== C.ACTIVITY_ACTIVE) {
        // HLT, shutdown, wait-for-SIPI: no instruction runs; sleep until the next event. The timer
        // keeps counting and wakes HLT and shutdown (SDM 26.5.1); nothing here wakes wait-for-SIPI.
        const timer = this.activity === C.ACTIVITY_WAIT_SIPI ? Infinity : this.timerExpiry;
        const wake = Math.min(this.activity === C.ACTIVITY_HLT ? this.hw.queue.nextTime() : Infinity, timer);
        if (!Number.isFinite(wake)) {
          throw new BudgetExceeded(`guest in activity state ${this.activity} at RIP 0x${this.rip.toString(16)} with nothing left to wake it`);
        }
        this.hw.setTsc(Math.max(this.tsc, wake));
        this.hw.checkCycleBudget();
        continue;
      }
      const insn = this.machine.memory.fetch(this.rip);
      if (insn === undefined) {
        // No code at RIP: in this model that is a fault the guest cannot handle.
        return this.exit(C.EXIT_REASON.TRIPLE_FAULT, {});
      }
      if (insn.kind === 'rdtsc' && insn.poll !== undefined && this.fastForward()) {
        this.skipPollIterations(insn);
      }
      const tf = (this.rflags & C.RFLAGS_TF) !== 0;
      const exitReason = this.execute(insn);
      if (exitReason !== undefined) return this.exit(exitReason, { insnLen: insn.len });
      this.machine.stats.retired++;
      // A single-step trap follows an instruction that began with RFLAGS.TF = 1 (SDM 18.3.1.4).
      if (tf) this.debugTrap = true;
      if (++steps > stepBudget) {
        throw new BudgetExceeded(`guest ran more than ${stepBudget} instructions without a VM exit (RIP 0x${this.rip.toString(16)})`);
      }
      this.hw.checkCycleBudget();
    }
  }

  private fastForward(): boolean {
    return this.hw.fastForward && (this.rflags & C.RFLAGS_TF) === 0 && (this.proc & C.CPU_MTF) === 0 && (this.proc & C.CPU_RDTSC) === 0;
  }

  /**
   * Retires whole iterations of a `rdtsc; jcc` polling loop at once, stopping short of the next
   * event and of the iteration whose TSC satisfies the loop's exit condition. The result is the
   * one stepping would give: the same TSC, registers and retired count at every later boundary.
   */
  private skipPollIterations(insn: Insn & { kind: 'rdtsc' }): void {
    const period = this.hw.costs.rdtsc + this.hw.costs.simple;
    const horizon = Math.min(this.hw.queue.nextTime(), this.timerExpiry, this.hw.budget.cycles);
    let byCount = Infinity;
    for (const at of this.hw.counters.values()) byCount = Math.min(byCount, Math.floor((at - this.machine.stats.retired) / 2) - 1);
    const kMax = Math.min(Math.floor((horizon - this.tsc) / period) - 1, byCount);
    if (!(kMax >= 1)) return;
    const until = insn.poll!.until;
    const start = this.tsc;
    const exits = (j: number) => until(this.view, start + j * period + this.tscOffset);
    // First iteration that would leave the loop (monotone predicate: binary search).
    let lo = 0;
    let hi = kMax;
    if (!exits(kMax - 1)) lo = kMax;
    else {
      hi = kMax - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (exits(mid)) hi = mid;
        else lo = mid + 1;
      }
    }
    const k = lo;
    if (k < 1) return;
    const last = start + (k - 1) * period + this.tscOffset;
    this.regs[RAX] = last % 2 ** 32;
    this.regs[RDX] = Math.floor(last / 2 ** 32);
    this.hw.setTsc(start + k * period);
    this.machine.stats.retired += 2 * k;
  }

  /** Executes one instruction; returns an exit reason when the instruction causes a VM exit. */
  private execute(insn: Insn): number | undefined {
    const costs = this.hw.costs;
    switch (insn.kind) {
      case 'vmcall':
        return C.EXIT_REASON.VMCALL;
      case 'cpuid':
        return C.EXIT_REASON.CPUID;
      case 'hlt':
        if ((this.proc & C.CPU_HLT) !== 0) return C.EXIT_REASON.HLT;
        this.advance(costs.hlt);
        this.rip += insn.len;
        this.activity = C.ACTIVITY_HLT;
        return undefined;
      case 'wbinvd':
        if ((this.proc2 & C.CPU2_WBINVD) !== 0) return C.EXIT_REASON.WBINVD;
        this.advance(costs.wbinvd);
        this.rip += insn.len;
        return undefined;
      case 'rdtsc': {
        if ((this.proc & C.CPU_RDTSC) !== 0) return C.EXIT_REASON.RDTSC;
        const t = this.tsc + this.tscOffset;
        this.regs[RAX] = t % 2 ** 32;
        this.regs[RDX] = Math.floor(t / 2 ** 32);
        this.advance(costs.rdtsc);
        this.rip += insn.len;
        return undefined;
      }
      case 'iret': {
        // IRETQ pops RIP, CS, RFLAGS, RSP, SS (SDM IRET pseudo-code, 64-bit mode).
        const mem = this.machine.memory;
        const sp = this.rsp;
        this.rip = mem.read(sp);
        this.rflags = mem.read(sp + 16);
        this.rsp = mem.read(sp + 24);
        this.advance(costs.iret);
        return undefined;
      }
      case 'nop':
      case 'pause':
        this.advance(costs.simple);
        this.rip += insn.len;
        return undefined;
      case 'alu':
        insn.exec(this.view);
        this.advance(costs.simple);
        this.rip += insn.len;
        return undefined;
      case 'jmp':
        this.advance(costs.simple);
        this.rip = insn.target;
        return undefined;
      case 'jcc':
        this.advance(costs.simple);
        this.rip = insn.cond(this.view) ? insn.target : this.rip + insn.len;
        return undefined;
    }
  }

  /** Delivers an exception or interrupt through the guest IDT (SDM 6.14.2): push the frame, clear TF. */
  private deliver(vector: number): void {
    const mem = this.machine.memory;
    const idt = this.vmcs.num(VMCS.GUEST_IDTR_BASE);
    const handler = mem.read(idt + vector * 16);
    const sp = this.rsp - 40;
    mem.write(sp, this.rip);
    mem.write(sp + 8, 0x8);
    mem.write(sp + 16, this.rflags);
    mem.write(sp + 24, this.rsp);
    mem.write(sp + 32, 0x10);
    this.rsp = sp;
    this.rflags &= ~C.RFLAGS_TF;
    this.rip = handler;
    this.activity = C.ACTIVITY_ACTIVE;
    this.advance(this.hw.costs.eventDelivery);
  }

  /** VM exit (SDM ch. 28): save guest state and exit information, then return to the host. */
  private exit(reason: number, info: ExitInfo): void {
    const v = this.vmcs;
    // The timer counts until the exit stores guest state, at the end of the transition.
    this.advance(this.hw.costs.vmExit);
    v.setNum(VMCS.GUEST_RIP, this.rip);
    v.setNum(VMCS.GUEST_RSP, this.rsp);
    v.setNum(VMCS.GUEST_RFLAGS, this.rflags);
    v.setNum(VMCS.GUEST_ACTIVITY_STATE, this.activity);
    // A trap not yet delivered is saved so that the next VM entry delivers it (SDM 28.3.4).
    v.setNum(VMCS.GUEST_PENDING_DBG_EXCEPTIONS, this.debugTrap ? C.PENDING_DBG_BS : this.pendingDbg);
    if ((this.exitCtls & C.EXI_SAVE_PREEMPT) !== 0) {
      const left = reason === C.EXIT_REASON.PREEMPTION_TIMER ? 0 : timerRemaining(this.timerBit, this.timerStart, this.timerValue, this.tsc);
      v.setNum(VMCS.VMX_PREEMPTION_TIMER_VALUE, left);
    }
    // VM exits clear the valid bit of the VM-entry interruption-information field (SDM 28.2).
    v.setNum(VMCS.VM_ENTRY_INTR_INFO_FIELD, v.num(VMCS.VM_ENTRY_INTR_INFO_FIELD) & ~C.INTR_INFO_VALID);
    v.setNum(VMCS.VM_EXIT_REASON, reason);
    v.setNum(VMCS.EXIT_QUALIFICATION, info.qualification ?? 0);
    v.setNum(VMCS.VM_EXIT_INTR_INFO, info.intrInfo ?? 0);
    v.setNum(VMCS.VM_EXIT_INSTRUCTION_LEN, info.insnLen ?? 0);
    v.setNum(VMCS.IDT_VECTORING_INFO_FIELD, 0);
    this.machine.stats.vmExits++;
  }
}
