// VMCS field encodings (SDM App. B) and the encoding layout (SDM 25.11.2):
// bit 0 access type (1 = high half of a 64-bit field), bits 9:1 index,
// bits 11:10 type (0 control, 1 VM-exit information, 2 guest state, 3 host state),
// bits 14:13 width (0 16-bit, 1 64-bit, 2 32-bit, 3 natural width).

export const VMCS = {
  VIRTUAL_PROCESSOR_ID: 0x0000,
  TSC_OFFSET: 0x2010,
  VMCS_LINK_POINTER: 0x2800,
  PIN_BASED_VM_EXEC_CONTROL: 0x4000,
  CPU_BASED_VM_EXEC_CONTROL: 0x4002,
  EXCEPTION_BITMAP: 0x4004,
  VM_EXIT_CONTROLS: 0x400c,
  VM_ENTRY_CONTROLS: 0x4012,
  VM_ENTRY_INTR_INFO_FIELD: 0x4016,
  VM_ENTRY_EXCEPTION_ERROR_CODE: 0x4018,
  VM_ENTRY_INSTRUCTION_LEN: 0x401a,
  SECONDARY_VM_EXEC_CONTROL: 0x401e,
  VM_INSTRUCTION_ERROR: 0x4400,
  VM_EXIT_REASON: 0x4402,
  VM_EXIT_INTR_INFO: 0x4404,
  VM_EXIT_INTR_ERROR_CODE: 0x4406,
  IDT_VECTORING_INFO_FIELD: 0x4408,
  IDT_VECTORING_ERROR_CODE: 0x440a,
  VM_EXIT_INSTRUCTION_LEN: 0x440c,
  VMX_INSTRUCTION_INFO: 0x440e,
  GUEST_IDTR_LIMIT: 0x4812,
  GUEST_INTERRUPTIBILITY_INFO: 0x4824,
  GUEST_ACTIVITY_STATE: 0x4826,
  VMX_PREEMPTION_TIMER_VALUE: 0x482e,
  EXIT_QUALIFICATION: 0x6400,
  GUEST_CR0: 0x6800,
  GUEST_CR3: 0x6802,
  GUEST_CR4: 0x6804,
  GUEST_IDTR_BASE: 0x6818,
  GUEST_DR7: 0x681a,
  GUEST_RSP: 0x681c,
  GUEST_RIP: 0x681e,
  GUEST_RFLAGS: 0x6820,
  GUEST_PENDING_DBG_EXCEPTIONS: 0x6822,
  HOST_CR0: 0x6c00,
  HOST_CR3: 0x6c02,
  HOST_CR4: 0x6c04,
  HOST_RSP: 0x6c14,
  HOST_RIP: 0x6c16,
} as const;

export type VmcsFieldName = keyof typeof VMCS;

export type FieldWidth = 16 | 32 | 64 | 'natural';
export type FieldType = 'control' | 'exit-info' | 'guest' | 'host';

const WIDTHS: FieldWidth[] = [16, 64, 32, 'natural'];
const TYPES: FieldType[] = ['control', 'exit-info', 'guest', 'host'];

export interface FieldInfo {
  readonly name: string;
  /** Encoding of the full field (bit 0 clear). */
  readonly encoding: number;
  readonly width: FieldWidth;
  readonly type: FieldType;
  /** True when the encoding names the high 32 bits of a 64-bit field. */
  readonly high: boolean;
}

const BY_ENCODING = new Map<number, string>(Object.entries(VMCS).map(([name, enc]) => [enc, name]));

/** Decodes an encoding; undefined when the field is not supported (VMREAD/VMWRITE error 12). */
export function fieldInfo(encoding: number): FieldInfo | undefined {
  if (!Number.isInteger(encoding) || encoding < 0 || encoding > 0xffff) return undefined;
  const high = (encoding & 1) === 1;
  const full = encoding & ~1;
  const name = BY_ENCODING.get(full);
  if (name === undefined) return undefined;
  const width = WIDTHS[(full >> 13) & 3];
  // The high-access type exists only for 64-bit fields (SDM 25.11.2).
  if (high && width !== 64) return undefined;
  return { name: high ? `${name}_HIGH` : name, encoding: full, width, type: TYPES[(full >> 10) & 3], high };
}

/** Masks a value to a field's width. Natural width is 64 bits on an Intel 64 processor. */
export function maskToWidth(width: FieldWidth, value: bigint): bigint {
  switch (width) {
    case 16: return value & 0xffffn;
    case 32: return value & 0xffffffffn;
    default: return BigInt.asUintN(64, value);
  }
}

export function fieldName(encoding: number): string {
  return fieldInfo(encoding)?.name ?? `field 0x${encoding.toString(16)}`;
}

export const ALL_FIELDS: readonly number[] = [...BY_ENCODING.keys()];
