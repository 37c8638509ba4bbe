import { PhysicalMemory } from '../memory';

// General-purpose register numbers (the x86 encoding order).
export const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;
export const R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15;

/** What a data instruction or branch condition of guest code may look at and change. */
export interface GuestView {
  readonly regs: Float64Array;
  readonly mem: PhysicalMemory;
}

/** A TSC polling loop `L: rdtsc; jcc !until(tsc) L` (see Assembler.spinUntil). */
export interface PollLoop {
  /** Must be monotone in tsc (once true, true for every later TSC) and read neither RAX nor RDX. */
  readonly until: (g: GuestView, tsc: number) => boolean;
}

interface Base {
  /** Linear address of the first byte. */
  addr: number;
  /** Length in bytes, as the x86 encoding of the instruction it stands for. */
  readonly len: number;
  readonly text: string;
}

export type Insn =
  | (Base & { readonly kind: 'vmcall' | 'hlt' | 'wbinvd' | 'iret' | 'nop' | 'cpuid' | 'pause' })
  | (Base & { readonly kind: 'rdtsc'; readonly poll?: PollLoop })
  | (Base & { readonly kind: 'alu'; readonly exec: (g: GuestView) => void })
  | (Base & { readonly kind: 'jmp'; target: number })
  | (Base & { readonly kind: 'jcc'; readonly cond: (g: GuestView) => boolean; target: number });

/** Encoded lengths (Intel 64 opcodes): VMCALL 0F 01 C1, HLT F4, WBINVD 0F 09, RDTSC 0F 31, IRETQ 48 CF, ... */
export const INSN_LEN = {
  vmcall: 3, hlt: 1, wbinvd: 2, rdtsc: 2, iret: 2, nop: 1, cpuid: 2, pause: 2, jmp: 2, jcc: 2, alu: 3,
} as const;

/** Placed guest code: instructions by address. */
export class Program {
  constructor(
    readonly base: number,
    readonly insns: ReadonlyMap<number, Insn>,
    readonly labels: ReadonlyMap<string, number>,
    readonly end: number,
  ) {}

  label(name: string): number {
    const a = this.labels.get(name);
    if (a === undefined) throw new Error(`no label ${name}`);
    return a;
  }
}
