import { FieldInfo, maskToWidth } from './vmcs-fields';

export type LaunchState = 'clear' | 'launched';

/**
 * The processor-side contents of one VMCS region. Field values are stored by full
 * encoding as 64-bit values. `gprs` is not an architectural field: it is where the VMM's
 * exit stub keeps the guest's general-purpose registers (VMX saves RIP, RSP and RFLAGS in
 * the VMCS, the VMM saves the others), carried here so guest state travels with its VMCS.
 */
export class Vmcs {
  launchState: LaunchState = 'clear';
  /** The VMXON session in which this VMCS was launched (VMRESUME after VMXOFF is error 6). */
  launchEpoch = -1;
  readonly gprs = new Float64Array(16);
  private readonly fields = new Map<number, bigint>();

  constructor(readonly address: number) {}

  get(encoding: number): bigint {
    return this.fields.get(encoding) ?? 0n;
  }

  /** Writes a full field, masked to its width. */
  set(info: FieldInfo, value: bigint): void {
    this.fields.set(info.encoding, maskToWidth(info.width, value));
  }

  /** A field as a JavaScript number (all fields the model computes with fit in 53 bits). */
  num(encoding: number): number {
    return Number(this.get(encoding));
  }

  /** Stores a number; a negative one is a 32-bit pattern built with JavaScript's bit operators. */
  setNum(encoding: number, value: number): void {
    this.fields.set(encoding, BigInt(value < 0 ? value >>> 0 : value));
  }

  /** VMREAD semantics for a decoded encoding (high half of a 64-bit field included). */
  read(info: FieldInfo): bigint {
    const v = this.get(info.encoding);
    return info.high ? v >> 32n : v;
  }

  /** VMWRITE semantics (SDM 31.3): the high-half encoding writes bits 63:32 only. */
  write(info: FieldInfo, value: bigint): void {
    if (info.high) {
      const low = this.get(info.encoding) & 0xffffffffn;
      this.fields.set(info.encoding, ((value & 0xffffffffn) << 32n) | low);
    } else {
      this.set(info, value);
    }
  }
}
