// The VMX instructions through Hardware: faults, VMfailInvalid and every VMfailValid error number
// (SDM Vol. 3C 31.3 pseudo-code, 31.4 error numbers).
import t from 'tap';
import { COFFEE_LAKE, NEHALEM_AAK139 } from '../../arch/cpu-profile';
import { GP, UD } from '../../arch/fault';
import { Hardware } from '../../arch/hardware';
import * as M from '../../arch/msr';
import { VMCS } from '../../arch/vmcs-fields';
import { CR4_VMXE, EXIT_REASON, PIN_EXTINT } from '../../arch/vmx-constants';
import {
  allowedControls, enableVmx, faultVector, loadNewVmcs, machine, must, newHardware, read, regionPage, revisionOf, vmError, write,
} from './helpers/machine';

/** Feature control locked with VMXON enabled, CR4.VMXE set, not yet in VMX operation. */
function ready(hw: Hardware = newHardware(COFFEE_LAKE)): Hardware {
  hw.wrmsr(M.IA32_FEATURE_CONTROL, 5n);
  hw.writeCr4(CR4_VMXE);
  return hw;
}

t.test('VMXON', async (t) => {
  t.test('#UD when CR4.VMXE = 0', async (t) => {
    const hw = newHardware(COFFEE_LAKE);
    hw.wrmsr(M.IA32_FEATURE_CONTROL, 5n);
    t.equal(faultVector(() => hw.vmxon(regionPage(hw))), UD);
  });

  for (const fc of [0n, 1n, 4n]) {
    t.test(`#GP with IA32_FEATURE_CONTROL = ${fc}`, async (t) => {
      const hw = newHardware(COFFEE_LAKE);
      if (fc !== 0n) hw.wrmsr(M.IA32_FEATURE_CONTROL, fc);
      hw.writeCr4(CR4_VMXE);
      const region = regionPage(hw);
      t.equal(faultVector(() => hw.vmxon(region)), GP);
      t.equal(faultVector(() => hw.vmclear(region)), UD, 'still outside VMX operation');
    });
  }

  t.test('a locked IA32_FEATURE_CONTROL cannot be rewritten', async (t) => {
    const hw = ready();
    t.equal(faultVector(() => hw.wrmsr(M.IA32_FEATURE_CONTROL, 5n)), GP);
  });

  t.test('VMfailInvalid for a misaligned, too wide or wrongly tagged region', async (t) => {
    const hw = ready();
    const good = regionPage(hw);
    t.equal(hw.vmxon(good + 8), 'VMfailInvalid', 'not 4-KByte aligned');
    t.equal(hw.vmxon(2 ** COFFEE_LAKE.physAddrBits), 'VMfailInvalid', 'beyond MAXPHYADDR');
    t.equal(hw.vmxon(regionPage(hw, revisionOf(hw) + 1)), 'VMfailInvalid', 'wrong revision identifier');
    t.equal(faultVector(() => hw.vmptrst()), UD, 'none of them entered VMX operation');
    t.equal(hw.vmxon(good), 'VMsucceed');
    t.equal(hw.vmptrst().pointer, 0xffffffffffffffffn, 'no current VMCS after VMXON');
  });

  t.test('in VMX root operation: VMfailInvalid without a current VMCS, error 15 with one', async (t) => {
    const hw = ready();
    must(hw.vmxon(regionPage(hw)), 'vmxon');
    t.equal(hw.vmxon(regionPage(hw)), 'VMfailInvalid');
    loadNewVmcs(hw);
    t.equal(hw.vmxon(regionPage(hw)), 'VMfailValid');
    t.equal(vmError(hw), 15);
  });
});

t.test('VMCLEAR', async (t) => {
  const hw = newHardware(COFFEE_LAKE);
  const vmxon = enableVmx(hw);
  t.equal(hw.vmclear(0x1234), 'VMfailInvalid', 'invalid address without a current VMCS');
  const vmcs = loadNewVmcs(hw);
  t.equal(hw.vmclear(vmcs + 0x10), 'VMfailValid', 'misaligned');
  t.equal(vmError(hw), 2);
  write(hw, VMCS.VM_INSTRUCTION_ERROR, 0);
  t.equal(hw.vmclear(2 ** 40), 'VMfailValid', 'beyond MAXPHYADDR (39 bits)');
  t.equal(vmError(hw), 2);
  t.equal(hw.vmclear(vmxon), 'VMfailValid', 'the VMXON pointer');
  t.equal(vmError(hw), 3);
  t.equal(hw.vmclear(vmcs), 'VMsucceed');
  t.equal(hw.vmptrst().pointer, 0xffffffffffffffffn, 'clearing the current VMCS makes none current');
});

t.test('VMPTRLD', async (t) => {
  const hw = newHardware(COFFEE_LAKE);
  const vmxon = enableVmx(hw);
  t.equal(hw.vmptrld(0x10), 'VMfailInvalid', 'invalid address without a current VMCS');
  const vmcs = loadNewVmcs(hw);
  t.equal(hw.vmptrld(vmcs + 4), 'VMfailValid');
  t.equal(vmError(hw), 9, 'misaligned');
  t.equal(hw.vmptrld(vmxon), 'VMfailValid');
  t.equal(vmError(hw), 10, 'the VMXON pointer');
  t.equal(hw.vmptrld(regionPage(hw, revisionOf(hw) ^ 1)), 'VMfailValid');
  t.equal(vmError(hw), 11, 'wrong revision identifier');
  t.equal(hw.vmptrst().pointer, BigInt(vmcs), 'failed VMPTRLDs leave the current VMCS');
});

t.test('VMREAD and VMWRITE', async (t) => {
  t.test('VMfailInvalid without a current VMCS', async (t) => {
    const hw = newHardware(COFFEE_LAKE);
    enableVmx(hw);
    t.equal(hw.vmread(VMCS.GUEST_RIP).status, 'VMfailInvalid');
    t.equal(hw.vmwrite(VMCS.GUEST_RIP, 1n), 'VMfailInvalid');
  });

  t.test('unsupported encodings: error 12', async (t) => {
    const hw = newHardware(COFFEE_LAKE);
    enableVmx(hw);
    loadNewVmcs(hw);
    for (const enc of [0x0002, 0x4826 | 1, 0x10000, 0x6c18]) {
      write(hw, VMCS.VM_INSTRUCTION_ERROR, 0);
      t.equal(hw.vmread(enc).status, 'VMfailValid', `vmread 0x${enc.toString(16)}`);
      t.equal(vmError(hw), 12);
      write(hw, VMCS.VM_INSTRUCTION_ERROR, 0);
      t.equal(hw.vmwrite(enc, 1n), 'VMfailValid', `vmwrite 0x${enc.toString(16)}`);
      t.equal(vmError(hw), 12);
    }
  });

  t.test('read-only exit-information fields: error 13 unless IA32_VMX_MISC bit 29', async (t) => {
    const nehalem = newHardware(NEHALEM_AAK139);
    t.equal(nehalem.rdmsr(M.IA32_VMX_MISC) & M.VMX_MISC_VMWRITE_ALL, 0n);
    enableVmx(nehalem);
    loadNewVmcs(nehalem);
    for (const field of [VMCS.VM_EXIT_REASON, VMCS.EXIT_QUALIFICATION, VMCS.VM_INSTRUCTION_ERROR]) {
      t.equal(nehalem.vmwrite(field, 0x77n), 'VMfailValid');
      t.equal(vmError(nehalem), 13);
    }
    t.equal(read(nehalem, VMCS.VM_EXIT_REASON), 0, 'the field is unchanged');

    const coffee = newHardware(COFFEE_LAKE);
    t.not(coffee.rdmsr(M.IA32_VMX_MISC) & M.VMX_MISC_VMWRITE_ALL, 0n);
    enableVmx(coffee);
    loadNewVmcs(coffee);
    t.equal(coffee.vmwrite(VMCS.VM_EXIT_REASON, 0x77n), 'VMsucceed');
    t.equal(read(coffee, VMCS.VM_EXIT_REASON), 0x77);
  });
});

t.test('VMLAUNCH and VMRESUME', async (t) => {
  t.test('VMfailInvalid without a current VMCS', async (t) => {
    const hw = newHardware(COFFEE_LAKE);
    enableVmx(hw);
    t.equal(hw.vmlaunch(), 'VMfailInvalid');
    t.equal(hw.vmresume(), 'VMfailInvalid');
    t.equal(hw.stats.vmEntries, 0);
  });

  t.test('VMLAUNCH of a launched VMCS: error 4; VMRESUME then enters', async (t) => {
    const { hw } = machine(COFFEE_LAKE);
    t.equal(hw.vmlaunch(), 'VMsucceed');
    t.equal(read(hw, VMCS.VM_EXIT_REASON), EXIT_REASON.VMCALL);
    t.equal(hw.vmlaunch(), 'VMfailValid');
    t.equal(vmError(hw), 4);
    t.equal(hw.stats.vmEntries, 1);
    t.equal(hw.vmresume(), 'VMsucceed');
    t.equal(hw.stats.vmEntries, 2);
  });

  t.test('VMRESUME of a clear VMCS: error 5', async (t) => {
    const { hw } = machine(COFFEE_LAKE);
    t.equal(hw.vmresume(), 'VMfailValid');
    t.equal(vmError(hw), 5);
    t.equal(hw.stats.vmEntries, 0);
  });

  t.test('VMRESUME after VMXOFF: error 6', async (t) => {
    const { hw, vmxon, vmcs } = machine(COFFEE_LAKE);
    must(hw.vmlaunch(), 'vmlaunch');
    must(hw.vmxoff(), 'vmxoff');
    t.equal(faultVector(() => hw.vmresume()), UD, 'outside VMX operation');
    must(hw.vmxon(vmxon), 'vmxon');
    must(hw.vmptrld(vmcs), 'vmptrld');
    t.equal(hw.vmresume(), 'VMfailValid');
    t.equal(vmError(hw), 6);
    t.equal(hw.stats.vmEntries, 1);
  });

  t.test('invalid controls: error 7', async (t) => {
    const { hw } = machine(COFFEE_LAKE);
    write(hw, VMCS.PIN_BASED_VM_EXEC_CONTROL, allowedControls(COFFEE_LAKE).pin & ~0x16);
    t.equal(hw.vmlaunch(), 'VMfailValid');
    t.equal(vmError(hw), 7);
    write(hw, VMCS.PIN_BASED_VM_EXEC_CONTROL, allowedControls(COFFEE_LAKE, { pin: PIN_EXTINT }).pin);
    t.equal(hw.vmlaunch(), 'VMsucceed', 'launch state stays clear after VMfail');
  });

  t.test('host CR4.VMXE clear: error 8', async (t) => {
    const { hw } = machine(COFFEE_LAKE);
    write(hw, VMCS.HOST_CR4, 0);
    t.equal(hw.vmlaunch(), 'VMfailValid');
    t.equal(vmError(hw), 8);
    t.equal(hw.stats.vmEntries, 0);
  });
});

t.test('VMCALL in VMX root operation: error 1', async (t) => {
  const hw = newHardware(COFFEE_LAKE);
  enableVmx(hw);
  t.equal(hw.vmcall(), 'VMfailInvalid', 'no current VMCS');
  loadNewVmcs(hw);
  t.equal(hw.vmcall(), 'VMfailValid');
  t.equal(vmError(hw), 1);
});

t.test('RDMSR of an absent MSR is #GP(0)', async (t) => {
  const hw = newHardware(NEHALEM_AAK139);
  t.equal(faultVector(() => hw.rdmsr(M.IA32_VMX_TRUE_PROCBASED_CTLS)), GP, 'no TRUE_* MSRs on this part');
  t.equal(faultVector(() => hw.rdmsr(0x12345)), GP);
  t.equal(newHardware(COFFEE_LAKE).rdmsr(M.IA32_VMX_TRUE_PROCBASED_CTLS), COFFEE_LAKE.msrs.get(M.IA32_VMX_TRUE_PROCBASED_CTLS));
  t.equal(faultVector(() => hw.wrmsr(M.IA32_VMX_BASIC, 0n)), GP, 'capability MSRs are read-only');
});

t.test('fixed after review: revision bit 31, VMCALL outside VMX, shutdown and wait-for-SIPI', async (t) => {
  const { Hardware } = await import('../../arch/hardware');
  const { COFFEE_LAKE } = await import('../../arch/cpu-profile');
  const M = await import('../../arch/msr');
  const { CR4_VMXE } = await import('../../arch/vmx-constants');
  const hw = new Hardware({ profile: COFFEE_LAKE });
  t.throws(() => hw.vmcall(), 'VMCALL outside VMX operation is #UD');
  hw.wrmsr(M.IA32_FEATURE_CONTROL, 5n);
  hw.writeCr4(CR4_VMXE);
  const revision = M.vmxBasicRevision(COFFEE_LAKE.msrs.get(M.IA32_VMX_BASIC)!);
  const region = hw.memory.allocPage();
  hw.memory.setRevision(region, (revision | 0x80000000) >>> 0);
  t.equal(hw.vmxon(region), 'VMfailInvalid', 'VMXON region with bit 31 set');
  hw.memory.setRevision(region, revision);
  t.equal(hw.vmxon(region), 'VMsucceed');
  const vmcs = hw.memory.allocPage();
  hw.memory.setRevision(vmcs, (revision | 0x80000000) >>> 0);
  t.equal(hw.vmptrld(vmcs), 'VMfailInvalid', 'a shadow-VMCS indicator without VMCS shadowing');
});
