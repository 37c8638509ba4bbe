import { performance } from 'node:perf_hooks';
import { CPU_PROFILES } from '../arch/cpu-profile';
import { parseArgs, planRuns } from './cli';
import { levelOfDepth, RunConfig } from './matrix';
import { Suite } from './registry';
import { runOne } from './runner';

/** Median wall time of `repeat` calls, in milliseconds. */
function time(repeat: number, f: () => void): number {
  const samples: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    f();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

/** Prints how long the suites take: each suite natively per CPU model, per depth, and the default matrix. */
export function bench(suites: readonly Suite[], out: (line: string) => void, repeat = 5): void {
  out(`median of ${repeat} runs, wall-clock milliseconds`);
  for (const suite of suites) {
    for (const cpu of CPU_PROFILES) {
      const config: RunConfig = { suite, level: levelOfDepth(0), cpu, strategy: 'kvm', delivery: { kind: 'lazy' }, seed: 1 };
      out(`${suite.name} native ${cpu.name}: ${time(repeat, () => runOne(config)).toFixed(2)} ms`);
    }
    for (let depth = 1; depth <= 5; depth++) {
      const config: RunConfig = { suite, level: levelOfDepth(depth), cpu: CPU_PROFILES[0], strategy: 'preemption-timer', delivery: { kind: 'lazy' }, seed: 1 };
      out(`${suite.name} depth ${depth} ${CPU_PROFILES[0].name} preemption-timer: ${time(repeat, () => runOne(config)).toFixed(2)} ms`);
    }
  }
  for (const [label, argv] of [['default matrix', []], ['make run matrix', ['--immediate-exit', 'all', '--delivery', 'all']]] as const) {
    const runs = planRuns(parseArgs([...argv], suites), suites);
    out(`${label} (${runs.length} runs): ${time(repeat, () => runs.forEach((r) => runOne(r))).toFixed(1)} ms`);
  }
}
