// Port of kvm-unit-tests x86/vmx_tests.c "preemption timer" (preemption_timer_init,
// preemption_timer_main, preemption_timer_exit_handler).
import { Assembler } from '../../arch/guest/assembler';
import { VMCS } from '../../arch/vmcs-fields';
import { ACTIVITY_ACTIVE, ACTIVITY_HLT, EXIT_REASON, EXI_SAVE_PREEMPT, PIN_PREEMPT } from '../../arch/vmx-constants';
import { ClassicTest } from '../../harness/classic';
import { defineSuite } from '../../harness/registry';
import { VmxEnv } from '../../harness/vmx-env';

function preemptionTimer(): ClassicTest {
  let preemptVal = 0;
  let preemptScale = 0;
  let savedRip = 0;
  let tscValAddr = 0;
  let saveSupportedAddr = 0;

  return {
    kind: 'classic',
    name: 'preemption timer',

    init(env: VmxEnv) {
      if ((env.ctrlPinRev.clr & PIN_PREEMPT) === 0) {
        env.print('\tPreemption timer is not supported');
        return 'EXIT';
      }
      env.vmcsSetBits(VMCS.PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
      preemptVal = 10_000_000;
      env.vmcsWrite(VMCS.VMX_PREEMPTION_TIMER_VALUE, preemptVal);
      preemptScale = Number(env.misc & 0x1fn);
      if ((env.ctrlExitRev.clr & EXI_SAVE_PREEMPT) === 0) env.print('\tSave preemption value is not supported');
      env.write(saveSupportedAddr, (env.ctrlExitRev.clr & EXI_SAVE_PREEMPT) !== 0 ? 1 : 0);
      return 'START';
    },

    guestMain(a: Assembler, env: VmxEnv) {
      tscValAddr = env.allocWord();
      saveSupportedAddr = env.allocWord();
      const stage = (g: Parameters<VmxEnv['guestStage']>[0]) => env.guestStage(g);
      const storeTsc = () => {
        a.readTsc(0);
        a.alu('mov [tsc_val], rax', (g) => g.mem.write(tscValAddr, g.regs[0]));
      };
      storeTsc();
      a.jcc('z no_save', (g) => g.mem.read(saveSupportedAddr) === 0, 'busy');
      env.emitSetStage(a, 0);
      a.vmcall();
      a.jcc('ne stage_1', (g) => stage(g) !== 1, 'busy');
      a.vmcall();
      a.label('busy');
      env.emitSetStage(a, 1);
      a.label('wait');
      // while (stage == 1) { if (((rdtsc() - tsc_val) >> scale) > 10 * val) { stage = 2; vmcall(); } }
      a.spinUntil('busy_wait', (g, tsc) =>
        stage(g) !== 1 || Math.floor((tsc - g.mem.read(tscValAddr)) / 2 ** preemptScale) > 10 * preemptVal);
      a.jcc('ne stage_1', (g) => stage(g) !== 1, 'done_wait');
      env.emitSetStage(a, 2);
      a.vmcall();
      a.jmp('wait');
      a.label('done_wait');
      storeTsc();
      a.hlt();
      a.vmcall();
      env.emitSetStage(a, 5);
      a.vmcall();
    },

    exitHandler(env: VmxEnv, exitReason: number) {
      const r = env.reporter;
      const guestRip = env.vmcsReadNum(VMCS.GUEST_RIP);
      const insnLen = env.vmcsReadNum(VMCS.VM_EXIT_INSTRUCTION_LEN);
      const elapsedTicks = () => Math.floor((env.rdtsc() - env.read(tscValAddr)) / 2 ** preemptScale);
      switch (exitReason & 0xffff) {
        case EXIT_REASON.PREEMPTION_TIMER:
          switch (env.stage) {
            case 1:
            case 2:
              r.report(elapsedTicks() >= preemptVal, 'busy-wait for preemption timer');
              env.stage = 3;
              env.vmcsWrite(VMCS.VMX_PREEMPTION_TIMER_VALUE, preemptVal);
              return 'RESUME';
            case 3: {
              const halted = env.vmcsReadNum(VMCS.GUEST_ACTIVITY_STATE) === ACTIVITY_HLT;
              r.report(elapsedTicks() >= preemptVal && halted, 'preemption timer during hlt');
              env.stage = 4;
              env.vmcsClearBits(VMCS.PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
              env.vmcsClearBits(VMCS.VM_EXIT_CONTROLS, EXI_SAVE_PREEMPT);
              env.vmcsWrite(VMCS.GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
              return 'RESUME';
            }
            case 4:
              r.report(env.vmcsReadNum(VMCS.GUEST_RIP) === savedRip, 'preemption timer with 0 value');
              break;
            default:
              r.fail('Invalid stage.');
              env.printExitInfo();
              break;
          }
          break;
        case EXIT_REASON.VMCALL:
          env.vmcsWrite(VMCS.GUEST_RIP, guestRip + insnLen);
          switch (env.stage) {
            case 0:
              r.report(env.vmcsReadNum(VMCS.VMX_PREEMPTION_TIMER_VALUE) === preemptVal, 'Keep preemption value');
              env.stage = 1;
              env.vmcsWrite(VMCS.VMX_PREEMPTION_TIMER_VALUE, preemptVal);
              env.vmcsWrite(VMCS.VM_EXIT_CONTROLS, (env.vmcsReadNum(VMCS.VM_EXIT_CONTROLS) | EXI_SAVE_PREEMPT) & env.ctrlExitRev.clr);
              return 'RESUME';
            case 1:
              r.report(env.vmcsReadNum(VMCS.VMX_PREEMPTION_TIMER_VALUE) < preemptVal, 'Save preemption value');
              return 'RESUME';
            case 2:
              r.fail('busy-wait for preemption timer');
              env.stage = 3;
              env.vmcsWrite(VMCS.VMX_PREEMPTION_TIMER_VALUE, preemptVal);
              return 'RESUME';
            case 3:
            case 4:
              if (env.stage === 3) {
                r.fail('preemption timer during hlt');
                env.stage = 4;
              }
              env.vmcsSetBits(VMCS.PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
              env.vmcsWrite(VMCS.VMX_PREEMPTION_TIMER_VALUE, 0);
              savedRip = guestRip + insnLen;
              return 'RESUME';
            case 5:
              r.fail('preemption timer with 0 value (vmcall stage 5)');
              break;
            default:
              r.fail(`unexpected stage, ${env.stage}`);
              env.printExitInfo();
              return 'VMEXIT';
          }
          break;
        default:
          r.fail(`Unknown exit reason, 0x${exitReason.toString(16)}`);
          env.printExitInfo();
      }
      env.vmcsClearBits(VMCS.PIN_BASED_VM_EXEC_CONTROL, PIN_PREEMPT);
      return 'VMEXIT';
    },
  };
}

export default defineSuite({
  name: 'preemption_timer',
  groups: ['vmx', 'preemption'],
  create: preemptionTimer,
});
