// The seed's story, computed: which immediate-exit mechanism gets the nested guest out before
// it runs an instruction, and which knob decides it.
import t from 'tap';
import { BOCHS_2_7, COFFEE_LAKE, CpuProfile, NEHALEM_AAK139 } from '../../arch/cpu-profile';
import { DeliveryPolicy } from '../../kvm/delivery';
import { ImmediateExitStrategy } from '../../kvm/kvm';
import { levelOfDepth, RunConfig, withIpiLatency } from '../../harness/matrix';
import { runOne } from '../../harness/runner';
import preemptionTimer from '../suites/preemption_timer';

const ZERO = 'preemption timer with 0 value';

function run(depth: number, strategy: ImmediateExitStrategy, delivery: DeliveryPolicy, cpu: CpuProfile = COFFEE_LAKE) {
  const config: RunConfig = { suite: preemptionTimer, level: levelOfDepth(depth), cpu, strategy, delivery, seed: 1 };
  return runOne(config, { strict: true });
}

/** The verdict and text of the zero-value check of one run. */
function zeroCheck(depth: number, strategy: ImmediateExitStrategy, delivery: DeliveryPolicy, cpu?: CpuProfile) {
  const r = run(depth, strategy, delivery, cpu);
  const line = r.reports.find((l) => l.text.startsWith(ZERO));
  return { verdict: line?.verdict, text: line?.text, result: r };
}

const lazy: DeliveryPolicy = { kind: 'lazy' };
const eager: DeliveryPolicy = { kind: 'eager' };

t.test('natively the zero timer exits before the guest runs', async (t) => {
  for (const cpu of [COFFEE_LAKE, BOCHS_2_7, NEHALEM_AAK139]) t.equal(zeroCheck(0, 'kvm', lazy, cpu).verdict, 'PASS', cpu.name);
});

t.test('single-nested passes with either strategy: the hardware delivers the self-IPI before the entry completes', async (t) => {
  for (const s of ['self-ipi', 'preemption-timer'] as const) {
    for (const d of [lazy, eager]) t.equal(zeroCheck(1, s, d).verdict, 'PASS', `${s} ${d.kind}`);
  }
});

t.test('double-nested self-IPI with lazy delivery lets the guest run on to its stage-5 VMCALL', async (t) => {
  const c = zeroCheck(2, 'self-ipi', lazy);
  t.equal(c.verdict, 'FAIL');
  t.equal(c.text, 'preemption timer with 0 value (vmcall stage 5)');
  t.equal(c.result.status, 1);
});

t.test('only the delivery policy changes: eager delivery turns the failure into a pass', async (t) => {
  t.equal(zeroCheck(2, 'self-ipi', lazy).verdict, 'FAIL');
  t.equal(zeroCheck(2, 'self-ipi', eager).verdict, 'PASS');
});

t.test('only the strategy changes: the zero preemption timer turns the failure into a pass', async (t) => {
  t.equal(zeroCheck(2, 'self-ipi', lazy).verdict, 'FAIL');
  t.equal(zeroCheck(2, 'preemption-timer', lazy).verdict, 'PASS');
});

t.test('the zero preemption timer holds at every depth from 1 to 5 under every delivery policy', async (t) => {
  const policies: DeliveryPolicy[] = [eager, lazy, { kind: 'delay', instructions: 1 }, { kind: 'delay', instructions: 50 }, { kind: 'random', maxInstructions: 16 }];
  for (let depth = 1; depth <= 5; depth++) {
    for (const d of policies) t.equal(zeroCheck(depth, 'preemption-timer', d).verdict, 'PASS', `depth ${depth} ${JSON.stringify(d)}`);
  }
});

t.test('a late hardware IPI breaks the self-IPI even single-nested: latency is the mechanism', async (t) => {
  const slow = withIpiLatency(COFFEE_LAKE, 1_000_000);
  t.equal(zeroCheck(1, 'self-ipi', lazy, slow).verdict, 'FAIL');
  t.equal(zeroCheck(1, 'preemption-timer', lazy, slow).verdict, 'PASS');
});

t.test('errata CPU with the host signature passed through: KVM falls back to the self-IPI at each level', async (t) => {
  t.equal(zeroCheck(2, 'kvm', lazy, NEHALEM_AAK139).verdict, 'FAIL', 'KVM as shipped fails double-nested');
  t.equal(zeroCheck(2, 'preemption-timer', lazy, NEHALEM_AAK139).verdict, 'PASS', 'forcing the timer passes: zero is zero at any rate');
  t.equal(zeroCheck(2, 'kvm', lazy, COFFEE_LAKE).verdict, 'PASS', 'on a correct CPU KVM uses the timer');
});

t.test('the other four checks pass single- and double-nested: the L2 timer is emulated at rate 5', async (t) => {
  for (const cpu of [COFFEE_LAKE, NEHALEM_AAK139, BOCHS_2_7]) {
    for (const depth of [1, 2]) {
      const r = run(depth, 'preemption-timer', lazy, cpu);
      const others = r.reports.filter((l) => !l.text.startsWith(ZERO));
      t.same(others.map((l) => l.verdict), ['PASS', 'PASS', 'PASS', 'PASS'], `${cpu.name} depth ${depth}`);
    }
  }
});

t.test('natively the errata CPU fails the rate checks: its timer counts on another TSC bit', async (t) => {
  const r = run(0, 'kvm', lazy, NEHALEM_AAK139);
  const v = Object.fromEntries(r.reports.map((l) => [l.text, l.verdict]));
  t.equal(v['busy-wait for preemption timer'], 'FAIL');
  t.equal(v['preemption timer during hlt'], 'FAIL');
});

t.test('random delivery is deterministic for one seed', async (t) => {
  const a = run(2, 'self-ipi', { kind: 'random', maxInstructions: 16 });
  const b = run(2, 'self-ipi', { kind: 'random', maxInstructions: 16 });
  t.same(a.log, b.log);
  t.equal(a.cycles, b.cycles);
});
