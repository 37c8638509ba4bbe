// VM-entry checks (SDM 27.2.1 controls, 27.3.1 guest state) through arch/controls.ts and VMLAUNCH.
import t from 'tap';
import { COFFEE_LAKE, CpuProfile, NEHALEM_AAK139 } from '../../arch/cpu-profile';
import { checkControls, readControlCaps } from '../../arch/controls';
import * as M from '../../arch/msr';
import { Vmcs } from '../../arch/vmcs';
import { VMCS } from '../../arch/vmcs-fields';
import { CPU_SECONDARY, EXI_SAVE_PREEMPT, EXIT_REASON, PIN_PREEMPT } from '../../arch/vmx-constants';
import { allowedControls, Controls, exitReason, machine, read, vmError, write } from './helpers/machine';

const CR3_LOAD_STORE = (1 << 15) | (1 << 16);

/** A profile with one MSR replaced. */
function withMsr(p: CpuProfile, index: number, value: bigint, name: string): CpuProfile {
  const msrs = new Map(p.msrs);
  msrs.set(index, value);
  return { ...p, name, msrs };
}

/** COFFEE_LAKE with IA32_VMX_BASIC bit 55 clear: its TRUE_* MSRs are still there but must not be used. */
const COFFEE_NO_TRUE = withMsr(COFFEE_LAKE, M.IA32_VMX_BASIC, COFFEE_LAKE.msrs.get(M.IA32_VMX_BASIC)! & ~M.VMX_BASIC_TRUE_CTLS, 'coffee-no-true');

const FIELDS = [
  ['pin', VMCS.PIN_BASED_VM_EXEC_CONTROL],
  ['proc', VMCS.CPU_BASED_VM_EXEC_CONTROL],
  ['exit', VMCS.VM_EXIT_CONTROLS],
  ['entry', VMCS.VM_ENTRY_CONTROLS],
] as const;

function vmcsWith(c: Required<Controls>): Vmcs {
  const v = new Vmcs(0x1000);
  v.setNum(VMCS.PIN_BASED_VM_EXEC_CONTROL, c.pin);
  v.setNum(VMCS.CPU_BASED_VM_EXEC_CONTROL, c.proc);
  v.setNum(VMCS.SECONDARY_VM_EXEC_CONTROL, c.proc2);
  v.setNum(VMCS.VM_EXIT_CONTROLS, c.exit);
  v.setNum(VMCS.VM_ENTRY_CONTROLS, c.entry);
  return v;
}

/** Launches a machine whose control field `field` is overridden; returns the status and error or exit reason. */
function launchWith(profile: CpuProfile, patch: Partial<Record<number, number>>, want: Controls = {}): string {
  const { hw } = machine(profile, (a) => a.vmcall(), want);
  for (const [field, value] of Object.entries(patch)) write(hw, Number(field), value!);
  const status = hw.vmlaunch();
  if (status === 'VMfailValid') return `error ${vmError(hw)}`;
  if (status === 'VMsucceed') return `exit ${exitReason(hw)}`;
  return status;
}

const OK = `exit ${EXIT_REASON.VMCALL}`;

t.test('each control field: must-be-1 bit cleared or may-not-be-1 bit set fails with 7', async (t) => {
  const caps = readControlCaps((i) => COFFEE_LAKE.msrs.get(i));
  const base = allowedControls(COFFEE_LAKE);
  t.equal(checkControls(vmcsWith(base), caps), 0, 'the fitted controls pass');
  t.equal(launchWith(COFFEE_LAKE, {}), OK);
  for (const [name, field] of FIELDS) {
    const c = caps[name];
    const must1 = c.mustBeOne & -c.mustBeOne;
    const forbidden = ~c.mayBeOne & -~c.mayBeOne;
    t.not(must1, 0, `${name} has a must-be-1 bit`);
    t.not(forbidden, 0, `${name} has a must-be-0 bit`);
    t.equal(checkControls(vmcsWith({ ...base, [name]: (base[name] & ~must1) >>> 0 }), caps), 7, `${name}: bit ${Math.log2(must1)} cleared`);
    t.equal(checkControls(vmcsWith({ ...base, [name]: (base[name] | forbidden) >>> 0 }), caps), 7, `${name}: bit ${Math.log2(forbidden >>> 0)} set`);
    t.equal(launchWith(COFFEE_LAKE, { [field]: (base[name] & ~must1) >>> 0 }), 'error 7', `VMLAUNCH, ${name} must-be-1 bit cleared`);
    t.equal(launchWith(COFFEE_LAKE, { [field]: (base[name] | forbidden) >>> 0 }), 'error 7', `VMLAUNCH, ${name} must-be-0 bit set`);
  }
});

t.test('"save VMX-preemption timer value" requires "activate VMX-preemption timer"', async (t) => {
  for (const p of [COFFEE_LAKE, NEHALEM_AAK139]) {
    const caps = readControlCaps((i) => p.msrs.get(i));
    const alone = allowedControls(p, { exit: EXI_SAVE_PREEMPT });
    const both = allowedControls(p, { pin: PIN_PREEMPT, exit: EXI_SAVE_PREEMPT });
    t.equal(alone.exit & EXI_SAVE_PREEMPT, EXI_SAVE_PREEMPT, `${p.name} allows the save control`);
    t.equal(checkControls(vmcsWith(alone), caps), 7, `${p.name}: save without activate`);
    t.equal(checkControls(vmcsWith(both), caps), 0, `${p.name}: save with activate`);
    t.equal(launchWith(p, {}, { exit: EXI_SAVE_PREEMPT }), 'error 7');
    t.equal(launchWith(p, { [VMCS.VMX_PREEMPTION_TIMER_VALUE]: 1_000_000 }, { pin: PIN_PREEMPT, exit: EXI_SAVE_PREEMPT }), OK);
  }
});

t.test('TRUE_* capability MSRs are used only when IA32_VMX_BASIC bit 55 is set', async (t) => {
  const trueCaps = readControlCaps((i) => COFFEE_LAKE.msrs.get(i));
  const plainCaps = readControlCaps((i) => COFFEE_NO_TRUE.msrs.get(i));
  t.equal(trueCaps.proc.mustBeOne & CR3_LOAD_STORE, 0, 'TRUE_PROCBASED lets CR3-load/store exiting be 0');
  t.equal(plainCaps.proc.mustBeOne & CR3_LOAD_STORE, CR3_LOAD_STORE, 'the plain MSR forces them to 1');
  t.equal(readControlCaps((i) => NEHALEM_AAK139.msrs.get(i)).proc.mustBeOne & CR3_LOAD_STORE, CR3_LOAD_STORE);

  const proc = allowedControls(COFFEE_LAKE).proc;
  t.equal(proc & CR3_LOAD_STORE, 0);
  t.equal(launchWith(COFFEE_LAKE, { [VMCS.CPU_BASED_VM_EXEC_CONTROL]: proc }), OK, 'coffee-lake: bits 15/16 clear enter');
  t.equal(launchWith(COFFEE_NO_TRUE, { [VMCS.CPU_BASED_VM_EXEC_CONTROL]: proc }), 'error 7', 'bit 55 clear: plain MSR checked');
  t.equal(launchWith(NEHALEM_AAK139, { [VMCS.CPU_BASED_VM_EXEC_CONTROL]: proc }), 'error 7', 'nehalem: plain MSR checked');
  t.equal(launchWith(NEHALEM_AAK139, { [VMCS.CPU_BASED_VM_EXEC_CONTROL]: proc | CR3_LOAD_STORE }), OK);
  // The debug-control bits (exit bit 2, entry bit 2) are default1 in the plain MSRs only.
  t.equal(launchWith(COFFEE_LAKE, { [VMCS.VM_EXIT_CONTROLS]: allowedControls(COFFEE_LAKE).exit & ~4 }), OK);
  t.equal(launchWith(COFFEE_NO_TRUE, { [VMCS.VM_EXIT_CONTROLS]: allowedControls(COFFEE_LAKE).exit & ~4 }), 'error 7');
  t.equal(launchWith(COFFEE_NO_TRUE, { [VMCS.VM_ENTRY_CONTROLS]: allowedControls(COFFEE_LAKE).entry & ~4 }), 'error 7');
});

t.test('secondary controls are checked only when primary bit 31 is set', async (t) => {
  const caps = readControlCaps((i) => COFFEE_LAKE.msrs.get(i));
  const bad2 = (~caps.proc2.mayBeOne & -~caps.proc2.mayBeOne) >>> 0;
  const base = allowedControls(COFFEE_LAKE);
  const primary = allowedControls(COFFEE_LAKE, { proc: CPU_SECONDARY }).proc;
  t.equal((primary & CPU_SECONDARY) >>> 0, CPU_SECONDARY >>> 0, 'bit 31 may be 1');
  t.equal(checkControls(vmcsWith({ ...base, proc2: bad2 }), caps), 0);
  t.equal(checkControls(vmcsWith({ ...base, proc: primary, proc2: bad2 }), caps), 7);
  t.equal(checkControls(vmcsWith({ ...base, proc: primary, proc2: 0 }), caps), 0);
  t.equal(launchWith(COFFEE_LAKE, { [VMCS.SECONDARY_VM_EXEC_CONTROL]: bad2 }), OK);
  t.equal(launchWith(COFFEE_LAKE, { [VMCS.CPU_BASED_VM_EXEC_CONTROL]: primary, [VMCS.SECONDARY_VM_EXEC_CONTROL]: bad2 }), 'error 7');
});

t.test('guest-state failure: exit reason 0x80000021 and VMsucceed', async (t) => {
  const noActivity = withMsr(COFFEE_LAKE, M.IA32_VMX_MISC, COFFEE_LAKE.msrs.get(M.IA32_VMX_MISC)! & ~0x1c0n, 'coffee-no-activity');
  const cases: Array<[CpuProfile, number, number]> = [
    [COFFEE_LAKE, VMCS.GUEST_ACTIVITY_STATE, 4],
    [COFFEE_LAKE, VMCS.GUEST_ACTIVITY_STATE, 9], // above 3 although IA32_VMX_MISC bit 5+9 happens to be set
    [NEHALEM_AAK139, VMCS.GUEST_ACTIVITY_STATE, 5],
    [noActivity, VMCS.GUEST_ACTIVITY_STATE, 1],
    [COFFEE_LAKE, VMCS.GUEST_RFLAGS, 0],
  ];
  for (const [profile, field, value] of cases) {
    const { hw, code } = machine(profile);
    write(hw, field, value);
    t.equal(hw.vmlaunch(), 'VMsucceed', `${profile.name}: field 0x${field.toString(16)} = ${value}`);
    t.equal(hw.vmread(VMCS.VM_EXIT_REASON).value, 0x80000021n, 'basic reason 33 with bit 31 set, a 32-bit field');
    t.equal(read(hw, VMCS.GUEST_RIP), code, 'no guest instruction ran');
    t.equal(hw.stats.retired, 0);
  }
  const { hw } = machine(COFFEE_LAKE);
  write(hw, VMCS.GUEST_ACTIVITY_STATE, 3);
  // Wait-for-SIPI is supported on coffee-lake (MISC bit 8): the entry succeeds and the guest
  // waits for a SIPI this model never sends, which ends in the budget, not in an entry failure.
  t.throws(() => hw.vmlaunch(), { name: 'BudgetExceeded' });
  t.equal(hw.stats.vmEntries, 1, 'the entry passed its checks');
});
