// Shared set-up for the harness tests: run configurations of the preemption_timer suite, an
// in-memory CLI, a CPU model without the preemption timer, and a TAP parser wrapper.
import { CpuProfile, NEHALEM_AAK139 } from '../../../arch/cpu-profile';
import * as M from '../../../arch/msr';
import { PIN_PREEMPT } from '../../../arch/vmx-constants';
import { DeliveryPolicy } from '../../../kvm/delivery';
import { ImmediateExitStrategy } from '../../../kvm/kvm';
import { main } from '../../../harness/cli';
import { Level, RunConfig } from '../../../harness/matrix';
import { Suite } from '../../../harness/registry';
import { RunOptions, RunResult, runOne } from '../../../harness/runner';
import { FinalResults, Parser } from 'tap-parser';
import preemptionTimer from '../../suites/preemption_timer';
import { SUITES } from '../../suites';

export interface ConfigOptions {
  readonly strategy?: ImmediateExitStrategy;
  readonly delivery?: DeliveryPolicy;
  readonly seed?: number;
  readonly suite?: Suite;
}

export function config(cpu: CpuProfile, level: Level, o: ConfigOptions = {}): RunConfig {
  return {
    suite: o.suite ?? preemptionTimer, level, cpu,
    strategy: o.strategy ?? 'kvm', delivery: o.delivery ?? { kind: 'lazy' }, seed: o.seed ?? 1,
  };
}

export function run(cpu: CpuProfile, level: Level, o: ConfigOptions & RunOptions = {}): RunResult {
  return runOne(config(cpu, level, o), { strict: o.strict });
}

/**
 * A Nehalem whose pin-based allowed-1 settings lack "activate VMX-preemption timer" (it uses
 * no TRUE_* MSRs), so preemption_timer's init declines and the run is skipped.
 */
export const NO_TIMER: CpuProfile = {
  ...NEHALEM_AAK139,
  name: 'no-timer',
  msrs: new Map([...NEHALEM_AAK139.msrs].map(([k, v]): [number, bigint] =>
    k === M.IA32_VMX_PINBASED_CTLS ? [k, v & ~(BigInt(PIN_PREEMPT) << 32n)] : [k, v])),
};

export interface CliRun {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
}

/** `main` with an in-memory io. */
export function cli(argv: readonly string[], suites: readonly Suite[] = SUITES): CliRun {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(argv, suites, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

export interface ParsedTap {
  readonly final: FinalResults;
  /** Names of the subtests (TAP 14 "# Subtest:" children), in order. */
  readonly children: string[];
}

/** Parses a TAP stream with tap-parser and resolves with its 'complete' results. */
export function parseTap(lines: readonly string[]): Promise<ParsedTap> {
  return new Promise((resolve) => {
    const parser = new Parser();
    const children: string[] = [];
    parser.on('child', (c: Parser) => children.push(c.name));
    parser.on('complete', (final: FinalResults) => resolve({ final, children }));
    parser.end(lines.join('\n') + '\n');
  });
}
