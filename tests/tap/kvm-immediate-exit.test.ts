// Where the nested guest stands when the zero timer's exit reaches its hypervisor: the exit
// RIP says whether instructions retired.
import t from 'tap';
import { COFFEE_LAKE, NEHALEM_AAK139 } from '../../arch/cpu-profile';
import { Hardware } from '../../arch/hardware';
import { VmxPlatform } from '../../arch/platform';
import { VMCS } from '../../arch/vmcs-fields';
import { EXIT_REASON, PIN_PREEMPT } from '../../arch/vmx-constants';
import { DeliveryPolicy } from '../../kvm/delivery';
import { ImmediateExitStrategy, Kvm } from '../../kvm/kvm';
import { runClassic } from '../../harness/classic';
import { Reporter } from '../../harness/report';
import { VmxEnv } from '../../harness/vmx-env';

function stack(depth: number, strategy: ImmediateExitStrategy, delivery: DeliveryPolicy, cpu = COFFEE_LAKE): VmxPlatform {
  let p: VmxPlatform = new Hardware({ profile: cpu });
  for (let i = 0; i < depth; i++) p = new Kvm(p, { strategy, delivery });
  return p;
}

/** Arms a zero timer at a VMCALL and records the next exit: its reason and how far RIP moved. */
function observeZeroTimer(platform: VmxPlatform) {
  const seen: { reason?: number; ripDelta?: number } = {};
  let saved = 0;
  const env = new VmxEnv(platform, new Reporter(), () => undefined);
  runClassic({
    kind: 'classic',
    name: 'zero timer probe',
    guestMain(a) {
      a.vmcall();
      for (let i = 0; i < 8; i++) a.nop();
      a.vmcall();
    },
    exitHandler(e, reason) {
      const rip = e.vmcsReadNum(VMCS.GUEST_RIP);
      if (saved === 0) {
        saved = rip + e.vmcsReadNum(VMCS.VM_EXIT_INSTRUCTION_LEN);
        e.vmcsWrite(VMCS.GUEST_RIP, saved);
        e.vmcsSetBits(VMCS.PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
        e.vmcsWrite(VMCS.VMX_PREEMPTION_TIMER_VALUE, 0);
        return 'RESUME';
      }
      seen.reason = reason & 0xffff;
      seen.ripDelta = rip - saved;
      return 'VMEXIT';
    },
  }, env);
  return seen;
}

t.test('with the zero timer the exit is the timer at the saved RIP, at any depth', async (t) => {
  for (const depth of [0, 1, 2, 3]) {
    const seen = observeZeroTimer(stack(depth, 'preemption-timer', { kind: 'lazy' }));
    t.same(seen, { reason: EXIT_REASON.PREEMPTION_TIMER, ripDelta: 0 }, `depth ${depth}`);
  }
});

t.test('a self-IPI noticed after K instructions: the timer exit comes K instructions late', async (t) => {
  for (const k of [1, 3, 5]) {
    const seen = observeZeroTimer(stack(2, 'self-ipi', { kind: 'delay', instructions: k }));
    t.equal(seen.reason, EXIT_REASON.PREEMPTION_TIMER, `delay ${k}: still the timer's exit`);
    t.equal(seen.ripDelta, k, `delay ${k}: ${k} NOPs retired (1 byte each)`);
  }
});

t.test('lazy delivery: the guest runs to its next VMCALL, which is what the hypervisor sees', async (t) => {
  const seen = observeZeroTimer(stack(2, 'self-ipi', { kind: 'lazy' }));
  t.same(seen, { reason: EXIT_REASON.VMCALL, ripDelta: 8 });
});

t.test('each Kvm level picks its strategy from the CPUID signature it sees', async (t) => {
  const hw = new Hardware({ profile: NEHALEM_AAK139 });
  const outer = new Kvm(hw, { strategy: 'kvm', delivery: { kind: 'lazy' } });
  const inner = new Kvm(outer, { strategy: 'kvm', delivery: { kind: 'lazy' } });
  t.equal(outer.immediateExit, 'self-ipi', 'errata signature on the hardware');
  t.equal(inner.immediateExit, 'self-ipi', 'host signature passed through to the guest');
  const masked = new Kvm(new Hardware({ profile: NEHALEM_AAK139 }), { strategy: 'kvm', delivery: { kind: 'lazy' }, guestSignature: COFFEE_LAKE.signature });
  const innerOfMasked = new Kvm(masked, { strategy: 'kvm', delivery: { kind: 'lazy' } });
  t.equal(innerOfMasked.immediateExit, 'preemption-timer', 'a guest shown another signature keeps the timer');
  t.equal(new Kvm(new Hardware({ profile: COFFEE_LAKE }), { strategy: 'kvm', delivery: { kind: 'lazy' } }).immediateExit, 'preemption-timer');
});
