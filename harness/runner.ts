import { CpuFault } from '../arch/fault';
import { BudgetExceeded } from '../arch/fault';
import { runClassic } from './classic';
import { knownFailureReason } from './expectations';
import { buildStack, RunConfig, runId } from './matrix';
import { Reporter, ReportLine, Summary, summaryLine, summaryStatus } from './report';
import { faultMessage, TestAbort, VmxEnv } from './vmx-env';

export interface RunResult {
  readonly id: string;
  readonly config: RunConfig;
  /** The test's console output, as the kvm-unit-tests binary prints it. */
  readonly log: readonly string[];
  readonly reports: readonly ReportLine[];
  readonly summary: Summary;
  /** 0 pass, 1 unexpected failure or abort, 77 everything skipped. */
  readonly status: number;
  /** Why the run stopped early (abort, budget, unhandled fault). */
  readonly aborted?: string;
  /** Why the test did not run (its init declined), for a skipped run. */
  readonly skipReason?: string;
  /** The TSC of the hardware at the end: simulated time, deterministic. */
  readonly cycles: number;
  readonly vmExits: number;
}

export interface RunOptions {
  /** Known failures count as failures. */
  readonly strict?: boolean;
}

/** Runs one cell of the matrix. Every outcome is computed here; expectations only relabel failures. */
export function runOne(config: RunConfig, opts: RunOptions = {}): RunResult {
  const log: string[] = [];
  const print = (line: string) => log.push(line);
  const reporter = new Reporter(print, (text) => (opts.strict ? undefined : knownFailureReason(config, text)));
  const { hardware, top } = buildStack(config);
  let aborted: string | undefined;
  let declinedBy: string | undefined;
  try {
    const env = new VmxEnv(top, reporter, print);
    const test = config.suite.create();
    const before = log.length;
    // What init printed before declining is the reason, as kvm-unit-tests logs it.
    if (runClassic(test, env) === 'declined') declinedBy = log.slice(before).map((l) => l.trim()).filter(Boolean).pop() ?? 'init declined';
  } catch (e) {
    if (e instanceof TestAbort) aborted = e.message;
    else if (e instanceof BudgetExceeded) aborted = `budget exceeded: ${e.message}`;
    else if (e instanceof CpuFault) aborted = faultMessage(e);
    else throw e;
    print(`ABORT: ${aborted}`);
  }
  const summary = reporter.summary();
  print(summaryLine(summary));
  let status = summaryStatus(summary);
  if (aborted !== undefined) status = 1;
  const skipReason = status === 77 ? (declinedBy ?? 'no tests ran') : undefined;
  return {
    id: runId(config), config, log, reports: reporter.lines, summary, status, aborted, skipReason,
    cycles: hardware.rdtsc(), vmExits: hardware.stats.vmExits,
  };
}
