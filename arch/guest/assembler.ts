import { PhysicalMemory } from '../memory';
import { GuestView, Insn, INSN_LEN, PollLoop, Program, RAX, RDX } from './isa';

type Target = string | number;
type Pending = { insn: Insn; target?: Target };

/**
 * Builds guest code instruction by instruction, the way a test writes its guest function:
 *
 *   const a = new Assembler(0x400000);
 *   a.vmcall(); a.label('loop'); a.wbinvd(); a.jmp('loop');
 *   const prog = a.assemble();
 */
export class Assembler {
  private readonly items: Pending[] = [];
  private readonly labels = new Map<string, number>();
  private pc: number;

  constructor(readonly base: number) {
    this.pc = base;
  }

  get here(): number {
    return this.pc;
  }

  private emit(insn: Insn, target?: Target): this {
    insn.addr = this.pc;
    this.pc += insn.len;
    this.items.push({ insn, target });
    return this;
  }

  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`label ${name} defined twice`);
    this.labels.set(name, this.pc);
    return this;
  }

  vmcall(): this { return this.emit({ kind: 'vmcall', addr: 0, len: INSN_LEN.vmcall, text: 'vmcall' }); }
  hlt(): this { return this.emit({ kind: 'hlt', addr: 0, len: INSN_LEN.hlt, text: 'hlt' }); }
  wbinvd(): this { return this.emit({ kind: 'wbinvd', addr: 0, len: INSN_LEN.wbinvd, text: 'wbinvd' }); }
  iret(): this { return this.emit({ kind: 'iret', addr: 0, len: INSN_LEN.iret, text: 'iretq' }); }
  nop(): this { return this.emit({ kind: 'nop', addr: 0, len: INSN_LEN.nop, text: 'nop' }); }
  cpuid(): this { return this.emit({ kind: 'cpuid', addr: 0, len: INSN_LEN.cpuid, text: 'cpuid' }); }
  pause(): this { return this.emit({ kind: 'pause', addr: 0, len: INSN_LEN.pause, text: 'pause' }); }
  /** RDTSC: EDX:EAX <- TSC. */
  rdtsc(): this { return this.emit({ kind: 'rdtsc', addr: 0, len: INSN_LEN.rdtsc, text: 'rdtsc' }); }

  /** One data instruction (mov, add, shl, a store...): `exec` is its effect. */
  alu(text: string, exec: (g: GuestView) => void, len: number = INSN_LEN.alu): this {
    return this.emit({ kind: 'alu', addr: 0, len, text, exec });
  }

  jmp(target: Target): this {
    return this.emit({ kind: 'jmp', addr: 0, len: INSN_LEN.jmp, text: `jmp ${String(target)}`, target: 0 }, target);
  }

  /** A conditional branch taken when `cond` holds. */
  jcc(text: string, cond: (g: GuestView) => boolean, target: Target): this {
    return this.emit({ kind: 'jcc', addr: 0, len: INSN_LEN.jcc, text: `j${text} ${String(target)}`, cond, target: 0 }, target);
  }

  /** RDTSC and fold EDX:EAX into one register (rdtsc; shl rdx, 32; or rax, rdx; mov reg, rax). */
  readTsc(dest: number): this {
    this.rdtsc();
    return this.alu(`mov r${dest}, edx:eax`, (g) => { g.regs[dest] = g.regs[RDX] * 2 ** 32 + g.regs[RAX]; }, 7);
  }

  /**
   * A polling loop on the TSC: `L: rdtsc; j(!until) L`. The two instructions are real and run
   * one by one when anything may interrupt them; between events the processor may retire whole
   * iterations at once, which is exact because `until` is monotone in the TSC.
   */
  spinUntil(text: string, until: PollLoop['until']): this {
    const head = `.spin${this.pc.toString(16)}`;
    this.label(head);
    this.emit({ kind: 'rdtsc', addr: 0, len: INSN_LEN.rdtsc, text: 'rdtsc', poll: { until } });
    return this.jcc(`ne ${text}`, (g) => !until(g, g.regs[RDX] * 2 ** 32 + g.regs[RAX]), head);
  }

  assemble(): Program {
    const insns = new Map<number, Insn>();
    for (const { insn, target } of this.items) {
      if (target !== undefined && (insn.kind === 'jmp' || insn.kind === 'jcc')) {
        insn.target = typeof target === 'number' ? target : this.resolve(target);
      }
      insns.set(insn.addr, insn);
    }
    return new Program(this.base, insns, new Map(this.labels), this.pc);
  }

  private resolve(name: string): number {
    const a = this.labels.get(name);
    if (a === undefined) throw new Error(`undefined label ${name}`);
    return a;
  }
}

/** Places a program's instructions in memory. */
export function loadProgram(mem: PhysicalMemory, prog: Program): Program {
  for (const insn of prog.insns.values()) mem.placeCode(insn);
  return prog;
}
