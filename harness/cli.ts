import { CPU_PROFILES, CpuProfile, findProfile } from '../arch/cpu-profile';
import { DeliveryPolicy, parseDelivery } from '../kvm/delivery';
import { ImmediateExitStrategy } from '../kvm/kvm';
import { Level, levelOfDepth, NAMED_LEVELS, RunConfig, runId, withIpiLatency } from './matrix';
import { consoleOutput, resultLine, tap13, tap14 } from './output';
import { Suite, selectSuites } from './registry';
import { RunResult, runOne } from './runner';

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export type OutputFormat = 'console' | 'tap13' | 'tap14';

export interface CliOptions {
  readonly patterns: string[];
  readonly groups: string[];
  readonly levels: Level[];
  readonly cpus: CpuProfile[];
  readonly strategies: ImmediateExitStrategy[];
  readonly deliveries: DeliveryPolicy[];
  readonly strict: boolean;
  readonly seed: number;
  readonly format: OutputFormat;
  readonly list: boolean;
  readonly help: boolean;
  readonly quiet: boolean;
}

export const USAGE = `usage: vmx-harness [options] [TEST...] [-TEST...]

Runs kvm-unit-tests-style VMX preemption-timer suites natively and under modelled KVM levels.
TEST is a name or glob (spaces written as _); -TEST excludes. No TEST means all.

  --level L[,L]            native, single-nested, double-nested (default: all three)
  --depth N                N Kvm levels between the test and the hardware (0 = native)
  --cpu NAME[,NAME]|all    CPU model (default: all): ${CPU_PROFILES.map((p) => p.name).join(', ')}
  --immediate-exit S|all   self-ipi, preemption-timer, kvm (KVM's own rule; default)
  --delivery D|all         eager, lazy (default), delay:K, random: when a level notices its
                           guest hypervisor's self-IPI while the nested guest runs
  --ipi-latency CYCLES     hardware self-IPI latency (default: the CPU model's)
  --seed N                 seed of every random choice (default 1)
  --strict                 known failures count as failures
  -g, --group NAME         only tests of this group
  -t, --tap13              TAP version 13 (as run_tests.sh -t)
      --tap14              TAP version 14, one subtest per run
  -q, --quiet              only the one-line result of each run
  -l, --list               list the selected runs and exit
  -h, --help               this text`;

class UsageError extends Error {}

/** Options that take no value. */
const FLAGS = new Set(['--help', '--list', '--tap13', '--tap14', '--quiet', '--strict']);

function splitList(value: string | undefined, option: string): string[] {
  if (value === undefined || value === '') throw new UsageError(`option ${option} needs a value`);
  return value.split(',');
}

/** Parses the command line; throws UsageError with a one-line message for a user's mistake. */
export function parseArgs(argv: readonly string[], suites: readonly Suite[]): CliOptions {
  const opts = {
    patterns: [] as string[], groups: [] as string[], levels: [] as Level[], cpus: [] as CpuProfile[],
    strategies: [] as ImmediateExitStrategy[], deliveries: [] as DeliveryPolicy[], strict: false, seed: 1,
    format: 'console' as OutputFormat, list: false, help: false, quiet: false,
  };
  let ipiLatency: number | undefined;
  const args = [...argv];
  while (args.length > 0) {
    const arg = args.shift()!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = () => (eq > 0 ? arg.slice(eq + 1) : args.shift());
    if (eq > 0 && FLAGS.has(name)) throw new UsageError(`option ${name} takes no value`);
    switch (name) {
      case '-h': case '--help': opts.help = true; break;
      case '-l': case '--list': opts.list = true; break;
      case '-t': case '--tap13': opts.format = 'tap13'; break;
      case '--tap14': opts.format = 'tap14'; break;
      case '-q': case '--quiet': opts.quiet = true; break;
      case '--strict': opts.strict = true; break;
      case '-g': case '--group': opts.groups.push(...splitList(value(), name)); break;
      case '--level':
        for (const l of splitList(value(), name)) {
          const level = NAMED_LEVELS.find((n) => n.name === l);
          if (level === undefined) throw new UsageError(`unknown level: ${l}`);
          opts.levels.push(level);
        }
        break;
      case '--depth': {
        const v = value();
        if (v === undefined || !/^\d{1,2}$/.test(v)) throw new UsageError(`--depth needs a number from 0 to 99`);
        opts.levels.push(levelOfDepth(Number(v)));
        break;
      }
      case '--cpu':
        for (const c of splitList(value(), name)) {
          if (c === 'all') opts.cpus.push(...CPU_PROFILES);
          else {
            const p = findProfile(c);
            if (p === undefined) throw new UsageError(`unknown CPU model: ${c}`);
            opts.cpus.push(p);
          }
        }
        break;
      case '--immediate-exit':
        for (const s of splitList(value(), name)) {
          if (s === 'all') opts.strategies.push('kvm', 'self-ipi', 'preemption-timer');
          else if (s === 'kvm' || s === 'self-ipi' || s === 'preemption-timer') opts.strategies.push(s);
          else throw new UsageError(`unknown immediate-exit strategy: ${s}`);
        }
        break;
      case '--delivery':
        for (const d of splitList(value(), name)) {
          if (d === 'all') opts.deliveries.push({ kind: 'eager' }, { kind: 'lazy' }, { kind: 'delay', instructions: 8 });
          else {
            const p = parseDelivery(d);
            if (p === undefined) throw new UsageError(`unknown delivery policy: ${d}`);
            opts.deliveries.push(p);
          }
        }
        break;
      case '--ipi-latency': {
        const v = value();
        if (v === undefined || !/^\d{1,12}$/.test(v)) throw new UsageError('--ipi-latency needs a number of cycles');
        ipiLatency = Number(v);
        break;
      }
      case '--seed': {
        const v = value();
        if (v === undefined || !/^\d{1,9}$/.test(v)) throw new UsageError('--seed needs a number');
        opts.seed = Number(v);
        break;
      }
      default:
        if (arg.startsWith('--') || arg === '-' || /^-[a-zA-Z]$/.test(arg)) throw new UsageError(`unknown option: ${arg}`);
        opts.patterns.push(arg);
    }
  }
  if (opts.levels.length === 0) opts.levels.push(...NAMED_LEVELS);
  if (opts.cpus.length === 0) opts.cpus.push(...CPU_PROFILES);
  if (opts.strategies.length === 0) opts.strategies.push('kvm');
  if (opts.deliveries.length === 0) opts.deliveries.push({ kind: 'lazy' });
  if (ipiLatency !== undefined) opts.cpus = opts.cpus.map((c) => withIpiLatency(c, ipiLatency!));
  for (const p of opts.patterns.filter((x) => x.startsWith('-'))) {
    const sel = selectSuites(suites, [p.slice(1)]);
    if ('unknown' in sel) throw new UsageError(`unknown test: ${p.slice(1)}`);
  }
  return opts;
}

function unique<T>(xs: readonly T[], key: (x: T) => string): T[] {
  const seen = new Set<string>();
  return xs.filter((x) => (seen.has(key(x)) ? false : (seen.add(key(x)), true)));
}

/** The runs of a selection: suite x level x CPU, and for nested levels x strategy x delivery. */
export function planRuns(opts: CliOptions, suites: readonly Suite[]): RunConfig[] {
  const sel = selectSuites(suites, opts.patterns, opts.groups);
  if ('unknown' in sel) throw new UsageError(`unknown test: ${sel.unknown}`);
  const runs: RunConfig[] = [];
  const levels = unique(opts.levels, (l) => String(l.depth)).sort((a, b) => a.depth - b.depth);
  const strategies = unique(opts.strategies, (s) => s);
  const deliveries = unique(opts.deliveries, (d) => JSON.stringify(d));
  for (const suite of sel.suites) {
    for (const cpu of unique(opts.cpus, (c) => c.name)) {
      for (const level of levels) {
        if (level.depth === 0) {
          runs.push({ suite, level, cpu, strategy: 'kvm', delivery: { kind: 'lazy' }, seed: opts.seed });
          continue;
        }
        for (const strategy of strategies) {
          for (const delivery of deliveries) runs.push({ suite, level, cpu, strategy, delivery, seed: opts.seed });
        }
      }
    }
  }
  return runs;
}

/** The command line's work; returns the exit status (0, 1 on an unexpected failure, 2 on a usage error). */
export function main(argv: readonly string[], suites: readonly Suite[], io: Io): number {
  let opts: CliOptions;
  let runs: RunConfig[];
  try {
    opts = parseArgs(argv, suites);
    if (opts.help) {
      io.out(USAGE);
      return 0;
    }
    runs = planRuns(opts, suites);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`vmx-harness: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (opts.list) {
    for (const r of runs) io.out(runId(r));
    return 0;
  }
  const results: RunResult[] = runs.map((r) => runOne(r, { strict: opts.strict }));
  const lines = opts.format === 'tap13' ? tap13(results) : opts.format === 'tap14' ? tap14(results)
    : opts.quiet ? results.map(resultLine) : consoleOutput(results);
  for (const l of lines) io.out(l);
  return results.some((r) => r.status === 1) ? 1 : 0;
}

