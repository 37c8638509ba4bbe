import type { Insn } from './guest/isa';

// Physical memory shared by every level. The model has no EPT: each level allocates its pages
// from the one allocator, so guest-physical equals host-physical (an identity mapping).

export const PAGE_SIZE = 4096;

export class PhysicalMemory {
  private readonly words = new Map<number, number>();
  private readonly code = new Map<number, Insn>();
  private nextPage: number;

  constructor(firstPage = 0x100000) {
    this.nextPage = firstPage;
  }

  /** A fresh zeroed 4-KByte page. */
  allocPage(): number {
    const addr = this.nextPage;
    this.nextPage += PAGE_SIZE;
    return addr;
  }

  /** Reads the word stored at an address (0 if never written). */
  read(addr: number): number {
    return this.words.get(addr) ?? 0;
  }

  write(addr: number, value: number): void {
    this.words.set(addr, value);
  }

  /** Places one instruction at its address. */
  placeCode(insn: Insn): void {
    this.code.set(insn.addr, insn);
  }

  /** The instruction starting at an address, if code was placed there. */
  fetch(addr: number): Insn | undefined {
    return this.code.get(addr);
  }

  /**
   * The first 32 bits of a VMXON or VMCS region: bits 30:0 the revision identifier, bit 31 the
   * shadow-VMCS indicator (SDM 25.2).
   */
  revisionAt(addr: number): number {
    return this.read(addr) >>> 0;
  }

  setRevision(addr: number, revision: number): void {
    this.write(addr, revision >>> 0);
  }
}
