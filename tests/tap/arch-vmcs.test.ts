// VMCS fields: the encoding layout (SDM 25.11.2), masking to the field width, and the high-half
// access type of 64-bit fields (SDM 31.3 VMREAD/VMWRITE).
import t from 'tap';
import fc from 'fast-check';
import { COFFEE_LAKE } from '../../arch/cpu-profile';
import { Hardware } from '../../arch/hardware';
import { ALL_FIELDS, fieldInfo, maskToWidth, VMCS } from '../../arch/vmcs-fields';
import { enableVmx, loadNewVmcs, newHardware, vmError } from './helpers/machine';

function vmxHw(): Hardware {
  const hw = newHardware(COFFEE_LAKE);
  enableVmx(hw);
  loadNewVmcs(hw);
  return hw;
}

function roundTrip(hw: Hardware, field: number, value: bigint): bigint {
  const w = hw.vmwrite(field, value);
  if (w !== 'VMsucceed') throw new Error(`vmwrite: ${w}`);
  const r = hw.vmread(field);
  if (r.status !== 'VMsucceed') throw new Error(`vmread: ${r.status}`);
  return r.value;
}

t.test('fieldInfo decodes type and width from the encoding', async (t) => {
  const cases: Array<[number, string, unknown, string]> = [
    [VMCS.VIRTUAL_PROCESSOR_ID, 'VIRTUAL_PROCESSOR_ID', 16, 'control'],
    [VMCS.TSC_OFFSET, 'TSC_OFFSET', 64, 'control'],
    [VMCS.VMCS_LINK_POINTER, 'VMCS_LINK_POINTER', 64, 'guest'],
    [VMCS.PIN_BASED_VM_EXEC_CONTROL, 'PIN_BASED_VM_EXEC_CONTROL', 32, 'control'],
    [VMCS.VM_INSTRUCTION_ERROR, 'VM_INSTRUCTION_ERROR', 32, 'exit-info'],
    [VMCS.VMX_PREEMPTION_TIMER_VALUE, 'VMX_PREEMPTION_TIMER_VALUE', 32, 'guest'],
    [VMCS.EXIT_QUALIFICATION, 'EXIT_QUALIFICATION', 'natural', 'exit-info'],
    [VMCS.GUEST_RIP, 'GUEST_RIP', 'natural', 'guest'],
    [VMCS.HOST_CR4, 'HOST_CR4', 'natural', 'host'],
  ];
  for (const [enc, name, width, type] of cases) {
    t.match(fieldInfo(enc), { name, encoding: enc, width, type, high: false }, name);
  }
  t.match(fieldInfo(VMCS.TSC_OFFSET | 1), { name: 'TSC_OFFSET_HIGH', encoding: VMCS.TSC_OFFSET, width: 64, high: true });
  for (const bad of [0x0002, VMCS.GUEST_RIP | 1, VMCS.GUEST_ACTIVITY_STATE | 1, VMCS.VIRTUAL_PROCESSOR_ID | 1, -2, 0x10000, 1.5]) {
    t.equal(fieldInfo(bad), undefined, `0x${bad.toString(16)} is unsupported`);
  }
});

t.test('every known field agrees with the layout bits', async (t) => {
  const widths = [16, 64, 32, 'natural'];
  const types = ['control', 'exit-info', 'guest', 'host'];
  for (const enc of ALL_FIELDS) {
    const info = fieldInfo(enc);
    t.equal(enc & 1, 0, `0x${enc.toString(16)} is a full-field encoding`);
    t.equal(info?.width, widths[(enc >> 13) & 3]);
    t.equal(info?.type, types[(enc >> 10) & 3]);
    t.equal(fieldInfo(enc | 1) !== undefined, info?.width === 64, 'high access exists only for 64-bit fields');
  }
});

t.test('VMWRITE masks the value to the field width', async (t) => {
  const hw = vmxHw();
  t.equal(roundTrip(hw, VMCS.VIRTUAL_PROCESSOR_ID, 0x12345678n), 0x5678n, '16-bit');
  t.equal(roundTrip(hw, VMCS.VMX_PREEMPTION_TIMER_VALUE, 0x1_2345_6789n), 0x2345_6789n, '32-bit');
  t.equal(roundTrip(hw, VMCS.TSC_OFFSET, (1n << 64n) + 5n), 5n, '64-bit');
  t.equal(roundTrip(hw, VMCS.TSC_OFFSET, -2n), 0xffff_ffff_ffff_fffen, '64-bit negative');
  t.equal(roundTrip(hw, VMCS.GUEST_RIP, (3n << 64n) | 0xdeadn), 0xdeadn, 'natural width is 64 bits');
  fc.assert(fc.property(fc.bigInt({ min: -(1n << 80n), max: 1n << 80n }), (v) => {
    return roundTrip(hw, VMCS.VIRTUAL_PROCESSOR_ID, v) === BigInt.asUintN(16, v)
      && roundTrip(hw, VMCS.GUEST_ACTIVITY_STATE, v) === BigInt.asUintN(32, v)
      && roundTrip(hw, VMCS.VMCS_LINK_POINTER, v) === BigInt.asUintN(64, v)
      && maskToWidth('natural', v) === BigInt.asUintN(64, v);
  }));
});

t.test('high-half access to a 64-bit field', async (t) => {
  const hw = vmxHw();
  const f = VMCS.TSC_OFFSET;
  t.equal(roundTrip(hw, f, 0x1111_2222_3333_4444n), 0x1111_2222_3333_4444n);
  t.equal(hw.vmread(f | 1).value, 0x1111_2222n, 'VMREAD high returns bits 63:32');
  t.equal(hw.vmwrite(f | 1, 0xaaaa_bbbb_cccc_ddddn), 'VMsucceed');
  t.equal(hw.vmread(f).value, 0xcccc_dddd_3333_4444n, 'VMWRITE high replaces bits 63:32 with the low 32 bits of the source');
  t.equal(hw.vmread(f | 1).value, 0xcccc_ddddn);
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (full, hi) => {
    roundTrip(hw, f, full);
    hw.vmwrite(f | 1, hi);
    return hw.vmread(f).value === (((hi & 0xffff_ffffn) << 32n) | (full & 0xffff_ffffn));
  }));
});

t.test('high access to a non-64-bit field is unsupported (12)', async (t) => {
  const hw = vmxHw();
  roundTrip(hw, VMCS.GUEST_RIP, 0x1234n);
  for (const f of [VMCS.VIRTUAL_PROCESSOR_ID, VMCS.PIN_BASED_VM_EXEC_CONTROL, VMCS.GUEST_RIP]) {
    roundTrip(hw, VMCS.VM_INSTRUCTION_ERROR, 0n);
    t.equal(hw.vmread(f | 1).status, 'VMfailValid');
    t.equal(vmError(hw), 12);
    roundTrip(hw, VMCS.VM_INSTRUCTION_ERROR, 0n);
    t.equal(hw.vmwrite(f | 1, 0xffffn), 'VMfailValid');
    t.equal(vmError(hw), 12);
  }
  t.equal(hw.vmread(VMCS.GUEST_RIP).value, 0x1234n, 'the failed write changed nothing');
});
