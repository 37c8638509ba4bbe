// The VMX-preemption timer (SDM 26.5.1): its arithmetic, then end to end on Hardware.
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { BOCHS_2_7, COFFEE_LAKE, CpuProfile, NEHALEM_AAK139 } from '../../arch/cpu-profile';
import { BudgetExceeded } from '../../arch/fault';
import { Assembler } from '../../arch/guest/assembler';
import { RAX, RDX } from '../../arch/guest/isa';
import { Hardware } from '../../arch/hardware';
import * as M from '../../arch/msr';
import { timerDeadline, timerRemaining, timerTicks } from '../../arch/preemption-timer';
import { VMCS } from '../../arch/vmcs-fields';
import { ACTIVITY_HLT, EXI_SAVE_PREEMPT, EXIT_REASON, PIN_PREEMPT } from '../../arch/vmx-constants';
import { Machine, machine, MachineOptions, read, write } from './helpers/machine';

const PROFILES = [COFFEE_LAKE, NEHALEM_AAK139, BOCHS_2_7];
const spinForever = (a: Assembler) => { a.label('l'); a.jmp('l'); };

/** floor(x / 2^bit) computed exactly with BigInt. */
const shr = (x: number, bit: number) => Number(BigInt(x) >> BigInt(bit));

t.test('timer arithmetic', async (t) => {
  t.test('timerTicks counts the multiples of 2^bit in (a, b]', async () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 }), fc.nat(1 << 20), fc.nat(3000), (bit, a, d) => {
      let n = 0;
      for (let x = a + 1; x <= a + d; x++) if (x % 2 ** bit === 0) n++;
      return timerTicks(bit, a, a + d) === n;
    }));
    fc.assert(fc.property(fc.integer({ min: 0, max: 31 }), fc.nat(2 ** 50), fc.nat(2 ** 50), (bit, a, d) =>
      timerTicks(bit, a, a + d) === shr(a + d, bit) - shr(a, bit)));
  });

  t.test('ticks are additive and change exactly at bit-X boundaries', async (t) => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 31 }), fc.nat(2 ** 40), fc.nat(2 ** 40), fc.nat(2 ** 40), (bit, a, d1, d2) =>
      timerTicks(bit, a, a + d1) + timerTicks(bit, a + d1, a + d1 + d2) === timerTicks(bit, a, a + d1 + d2)));
    for (const bit of [0, 3, 5, 7]) {
      const edge = 5 * 2 ** bit;
      t.equal(timerTicks(bit, edge - 1, edge), 1, `bit ${bit}: crossing a boundary is one tick`);
      if (bit > 0) t.equal(timerTicks(bit, edge, edge + 2 ** bit - 1), 0, `bit ${bit}: no tick inside an interval`);
      t.equal(timerDeadline(bit, edge - 1, 1), edge, 'value 1 expires at the next boundary');
      t.equal(timerDeadline(bit, edge, 1), edge + 2 ** bit, 'starting on a boundary does not count it');
    }
  });

  t.test('timerDeadline is the least t >= start with ticks >= value', async () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 31 }), fc.nat(2 ** 40), fc.nat(2 ** 12), (bit, start, value) => {
      const d = timerDeadline(bit, start, value);
      return d >= start && timerTicks(bit, start, d) >= value && (d === start || timerTicks(bit, start, d - 1) < value);
    }));
  });

  t.test('timerRemaining falls from value to 0 and never rises', async () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 12 }), fc.nat(2 ** 30), fc.nat(5000), fc.nat(2 ** 24), fc.nat(2 ** 24),
      (bit, start, value, d1, d2) => {
        const r1 = timerRemaining(bit, start, value, start + d1);
        const r2 = timerRemaining(bit, start, value, start + d1 + d2);
        return timerRemaining(bit, start, value, start) === value && r1 >= r2 && r2 >= 0
          && timerRemaining(bit, start, value, timerDeadline(bit, start, value)) === 0;
      }));
  });
});

/** A machine with the timer active (and optionally saved), whose guest is `guest`. */
function timed(profile: CpuProfile, value: number, guest: (a: Assembler) => void, save = false, opts: MachineOptions = {}): Machine {
  const m = machine(profile, guest, { pin: PIN_PREEMPT, exit: save ? EXI_SAVE_PREEMPT : 0 }, opts);
  write(m.hw, VMCS.VMX_PREEMPTION_TIMER_VALUE, value);
  return m;
}

/**
 * VMLAUNCH; returns the TSC at which the guest started (after the VMLAUNCH and entry costs) and
 * the TSC back in the host, read before anything else (VMREAD itself takes cycles).
 */
function launch(hw: Hardware): { start: number; end: number } {
  const start = hw.rdtsc() + hw.profile.costs.vmxInstruction + hw.profile.costs.vmEntry;
  if (hw.vmlaunch() !== 'VMsucceed') throw new Error('vmlaunch failed');
  return { start, end: hw.rdtsc() };
}

t.test('a spinning guest exits with reason 52 at the TSC the formula gives', async (t) => {
  fc.assert(fc.property(fc.constantFrom(...PROFILES), fc.integer({ min: 1, max: 40 }), fc.nat(1000), (p, value, skew) => {
    const { hw } = timed(p, value, spinForever);
    hw.spend(skew);
    const { start, end } = launch(hw);
    const bit = p.timerCountingBit;
    const deadline = (shr(start, bit) + value) * 2 ** bit;
    return read(hw, VMCS.VM_EXIT_REASON) === EXIT_REASON.PREEMPTION_TIMER
      && end - p.costs.vmExit === deadline
      && hw.stats.retired === deadline - start;
  }), { numRuns: 60 });
  t.pass('checked by fast-check');
});

t.test('nehalem-aak139 counts on TSC bit 3 while IA32_VMX_MISC reports 5: 4x sooner', async (t) => {
  const value = 1000;
  const { hw } = timed(NEHALEM_AAK139, value, spinForever);
  const reported = M.vmxMiscTimerRate(hw.rdmsr(M.IA32_VMX_MISC));
  t.equal(reported, 5);
  const { start, end } = launch(hw);
  t.equal(read(hw, VMCS.VM_EXIT_REASON), EXIT_REASON.PREEMPTION_TIMER);
  const elapsed = end - NEHALEM_AAK139.costs.vmExit - start;
  t.ok(elapsed > (value - 1) * 8 && elapsed <= value * 8, `elapsed ${elapsed} TSC cycles: ${value} ticks of 2^3`);
  t.equal(Math.round((value * 2 ** reported) / elapsed), 4, 'a quarter of what the reported rate implies');

  const right = timed(COFFEE_LAKE, value, spinForever).hw;
  const r2 = launch(right);
  const e2 = r2.end - COFFEE_LAKE.costs.vmExit - r2.start;
  t.ok(e2 > (value - 1) * 2 ** 7 && e2 <= value * 2 ** 7, 'coffee-lake counts at its reported rate 7');
});

t.test('value 0 exits before the first guest instruction', async (t) => {
  for (const p of PROFILES) {
    const { hw, code } = timed(p, 0, spinForever);
    const { start, end } = launch(hw);
    t.equal(read(hw, VMCS.VM_EXIT_REASON), EXIT_REASON.PREEMPTION_TIMER, p.name);
    t.equal(read(hw, VMCS.GUEST_RIP), code, 'GUEST_RIP is the entry RIP');
    t.equal(hw.stats.retired, 0, 'no instruction retired');
    t.equal(end, start + p.costs.vmExit);
  }
});

t.test('the timer counts while the guest is halted', async (t) => {
  for (const p of PROFILES) {
    const value = 25;
    const { hw, code } = timed(p, value, (a) => { a.hlt(); a.vmcall(); });
    const { start, end } = launch(hw);
    const deadline = (shr(start, p.timerCountingBit) + value) * 2 ** p.timerCountingBit;
    t.equal(read(hw, VMCS.VM_EXIT_REASON), EXIT_REASON.PREEMPTION_TIMER, p.name);
    t.equal(read(hw, VMCS.GUEST_ACTIVITY_STATE), ACTIVITY_HLT);
    t.equal(read(hw, VMCS.GUEST_RIP), code + 1, 'RIP after the HLT');
    t.equal(end - p.costs.vmExit, deadline, 'woke at the deadline');
  }
});

t.test('"save VMX-preemption timer value"', async (t) => {
  t.test('stores 0 after a timer exit', async (t) => {
    const { hw } = timed(COFFEE_LAKE, 30, spinForever, true);
    launch(hw);
    t.equal(read(hw, VMCS.VM_EXIT_REASON), EXIT_REASON.PREEMPTION_TIMER);
    t.equal(read(hw, VMCS.VMX_PREEMPTION_TIMER_VALUE), 0);
  });

  t.test('stores the remaining value after another exit', async (t) => {
    const value = 500;
    const { hw } = timed(NEHALEM_AAK139, value, (a) => { for (let i = 0; i < 300; i++) a.nop(); a.vmcall(); }, true);
    const { start, end } = launch(hw);
    t.equal(read(hw, VMCS.VM_EXIT_REASON), EXIT_REASON.VMCALL);
    const left = read(hw, VMCS.VMX_PREEMPTION_TIMER_VALUE);
    const bit = NEHALEM_AAK139.timerCountingBit;
    const atExit = value - (shr(end, bit) - shr(start, bit));
    const atVmcall = value - (shr(end - NEHALEM_AAK139.costs.vmExit, bit) - shr(start, bit));
    t.ok(left >= atExit && left <= atVmcall, `saved ${left} within [${atExit}, ${atVmcall}]`);
    t.ok(left > 0 && left < value);
  });

  t.test('with the control clear the field keeps what software wrote', async (t) => {
    for (const guest of [spinForever, (a: Assembler) => { a.nop(); a.vmcall(); }]) {
      const { hw } = timed(COFFEE_LAKE, 20, guest, false);
      launch(hw);
      t.equal(read(hw, VMCS.VMX_PREEMPTION_TIMER_VALUE), 20, `after exit ${read(hw, VMCS.VM_EXIT_REASON)}`);
    }
  });
});

t.test('fast-forward of TSC polling loops is exact', async (t) => {
  const run = (p: CpuProfile, value: number, wait: number, fastForward: boolean) => {
    const { hw } = timed(p, value, (a) => {
      a.readTsc(8);
      a.spinUntil('tsc >= r8 + wait', (g, tsc) => tsc >= g.regs[8] + wait);
      a.vmcall();
    }, false, { fastForward });
    const { end } = launch(hw);
    const gprs = hw.guestRegisters();
    return {
      tsc: end, rax: gprs[RAX], rdx: gprs[RDX], retired: hw.stats.retired,
      reason: read(hw, VMCS.VM_EXIT_REASON), rip: read(hw, VMCS.GUEST_RIP),
    };
  };
  let both = 0;
  fc.assert(fc.property(fc.constantFrom(...PROFILES), fc.integer({ min: 1, max: 120 }), fc.nat(20_000), (p, value, wait) => {
    const slow = run(p, value, wait, false);
    const fast = run(p, value, wait, true);
    if (slow.reason === EXIT_REASON.VMCALL) both |= 1;
    if (slow.reason === EXIT_REASON.PREEMPTION_TIMER) both |= 2;
    return isDeepStrictEqual(fast, slow);
  }), { numRuns: 40, examples: [[COFFEE_LAKE, 100, 1000], [COFFEE_LAKE, 5, 20_000]] });
  t.pass('fast and stepped runs agree on TSC, RAX, RDX, retired count, exit reason and RIP');
  t.equal(both, 3, 'runs ended both by the loop exiting and by the timer');

  const budget = { steps: 1000, cycles: 2 ** 40 };
  const long = (fastForward: boolean) => timed(COFFEE_LAKE, 2000, (a) => a.spinUntil('never', () => false), false, { budget, fastForward });
  const fast = long(true).hw;
  launch(fast);
  t.equal(read(fast, VMCS.VM_EXIT_REASON), EXIT_REASON.PREEMPTION_TIMER, 'fast-forward retires iterations beyond the step budget');
  t.ok(fast.stats.retired > budget.steps);
  t.throws(() => launch(long(false).hw), BudgetExceeded, 'stepping the same loop exceeds it');
});

t.test('budgets stop runaway guests', async (t) => {
  const budget = { steps: 10_000, cycles: 2 ** 40 };
  const loop = machine(COFFEE_LAKE, spinForever, {}, { budget }).hw;
  t.throws(() => loop.vmlaunch(), BudgetExceeded, 'endless loop without a timer');
  t.ok(loop.stats.retired >= budget.steps && loop.stats.retired <= budget.steps + 1);

  const halted = machine(COFFEE_LAKE, (a) => a.hlt(), {}, { budget }).hw;
  t.throws(() => halted.vmlaunch(), BudgetExceeded, 'HLT with nothing to wake it');

  const cycles = machine(COFFEE_LAKE, (a) => a.spinUntil('never', () => false), {}, { budget: { steps: 10_000, cycles: 2 ** 24 } }).hw;
  t.throws(() => cycles.vmlaunch(), BudgetExceeded, 'fast-forwarded polling stops at the cycle budget');
  t.ok(cycles.rdtsc() > 2 ** 24 && cycles.rdtsc() < 2 ** 24 + 100);
});

t.test('shutdown: no instruction runs and the timer wakes it; wait-for-SIPI: the timer causes no exit', async (t) => {
  const shut = machine(COFFEE_LAKE, (a) => { a.nop(); a.vmcall(); }, { pin: PIN_PREEMPT });
  write(shut.hw, VMCS.GUEST_ACTIVITY_STATE, 2);
  write(shut.hw, VMCS.VMX_PREEMPTION_TIMER_VALUE, 10);
  t.equal(shut.hw.vmlaunch(), 'VMsucceed');
  t.equal(read(shut.hw, VMCS.VM_EXIT_REASON), EXIT_REASON.PREEMPTION_TIMER);
  t.equal(read(shut.hw, VMCS.GUEST_ACTIVITY_STATE), 2, 'still in shutdown');
  t.equal(shut.hw.stats.retired, 0, 'no instruction retired');
  const sipi = machine(COFFEE_LAKE, (a) => { a.nop(); a.vmcall(); }, { pin: PIN_PREEMPT });
  write(sipi.hw, VMCS.GUEST_ACTIVITY_STATE, 3);
  write(sipi.hw, VMCS.VMX_PREEMPTION_TIMER_VALUE, 10);
  t.throws(() => sipi.hw.vmlaunch(), BudgetExceeded, 'nothing wakes wait-for-SIPI here');
  t.equal(sipi.hw.stats.retired, 0);
});
