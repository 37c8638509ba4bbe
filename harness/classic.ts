import { Assembler } from '../arch/guest/assembler';
import { VMCS } from '../arch/vmcs-fields';
import { EXIT_REASON, EXIT_REASON_FAILED_VMENTRY } from '../arch/vmx-constants';
import { TestAbort, VmxEnv } from './vmx-env';

/** What init returns: run the test (VMX_TEST_START) or leave it (VMX_TEST_EXIT). */
export type InitResult = 'START' | 'EXIT';
/** What the exit handler returns: VMX_TEST_RESUME, VMX_TEST_VMEXIT (done), VMX_TEST_EXIT (abort). */
export type ExitResult = 'RESUME' | 'VMEXIT' | 'EXIT';

/**
 * A classic kvm-unit-tests VMX test: `init` prepares the VMCS, `guestMain` is the guest's code,
 * and `exitHandler` runs on every VM exit. Create a fresh object per run: it holds the test's
 * globals.
 */
export interface ClassicTest {
  readonly kind: 'classic';
  /** The name in kvm-unit-tests' test table, printed as "Test suite: <name>". */
  readonly name: string;
  init?(env: VmxEnv): InitResult;
  guestMain(a: Assembler, env: VmxEnv): void;
  exitHandler(env: VmxEnv, exitReason: number): ExitResult;
}

/**
 * Runs a classic test as x86/vmx.c's test_run and vmx_run do. Returns 'declined' when init
 * returned EXIT (the test did not run), else 'ran'.
 */
export function runClassic(test: ClassicTest, env: VmxEnv): 'declined' | 'ran' {
  env.vmxOn();
  const a = env.assembler();
  const entry = a.here;
  test.guestMain(a, env);
  env.emitExitHypercall(a);
  env.place(a);
  env.initVmcs(entry);
  if (test.init !== undefined && test.init(env) !== 'START') return 'declined';
  env.print('');
  env.print(`Test suite: ${test.name}`);
  let launched = false;
  let finished = false;
  try {
    for (;;) {
      const status = launched ? env.platform.vmresume() : env.platform.vmlaunch();
      if (status !== 'VMsucceed') {
        throw new TestAbort(`${launched ? 'vmresume' : 'vmlaunch'} failed: ${status}, error ${env.instructionError()}`);
      }
      const reason = env.vmcsReadNum(VMCS.VM_EXIT_REASON);
      if ((reason & EXIT_REASON_FAILED_VMENTRY) !== 0) {
        throw new TestAbort(`VM-entry failure, exit reason 0x${reason.toString(16)}`);
      }
      launched = true;
      const result = (reason & 0xffff) === EXIT_REASON.VMCALL && env.takeHypercall() ? 'VMEXIT' : test.exitHandler(env, reason);
      if (result === 'RESUME') continue;
      if (result === 'VMEXIT') {
        finished = true;
        break;
      }
      env.printExitInfo();
      throw new TestAbort(`exit handler of "${test.name}" returned VMX_TEST_EXIT`);
    }
  } finally {
    if (launched && !finished) env.reporter.fail("Guest didn't run to completion.");
  }
  return 'ran';
}
