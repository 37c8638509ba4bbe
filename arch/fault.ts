/** An exception raised by an instruction the software executed (#UD, #GP(0)), visible to the caller. */
export class CpuFault extends Error {
  constructor(readonly vector: number, readonly mnemonic: string, detail: string) {
    super(`${mnemonic} (vector ${vector}): ${detail}`);
    this.name = 'CpuFault';
  }
}

export const UD = 6;
export const GP = 13;

export function undefinedOpcode(detail: string): CpuFault {
  return new CpuFault(UD, '#UD', detail);
}

export function generalProtection(detail: string): CpuFault {
  return new CpuFault(GP, '#GP', detail);
}

/** A runaway or stuck guest: the run exceeded its budget, or halted with nothing left to wake it. */
export class BudgetExceeded extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'BudgetExceeded';
  }
}
