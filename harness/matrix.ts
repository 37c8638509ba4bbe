import { CpuProfile, withCosts } from '../arch/cpu-profile';
import { Budget, Hardware } from '../arch/hardware';
import { VmxPlatform } from '../arch/platform';
import { DeliveryPolicy, deliveryName } from '../kvm/delivery';
import { ImmediateExitStrategy, Kvm } from '../kvm/kvm';
import { Suite } from './registry';

/** How many Kvm levels stand between the test and the hardware, with the names people use. */
export interface Level {
  readonly name: string;
  readonly depth: number;
}

export const NATIVE: Level = { name: 'native', depth: 0 };
export const SINGLE_NESTED: Level = { name: 'single-nested', depth: 1 };
export const DOUBLE_NESTED: Level = { name: 'double-nested', depth: 2 };
export const NAMED_LEVELS: readonly Level[] = [NATIVE, SINGLE_NESTED, DOUBLE_NESTED];

export function levelOfDepth(depth: number): Level {
  return NAMED_LEVELS.find((l) => l.depth === depth) ?? { name: `depth-${depth}`, depth };
}

/** One cell of the matrix: a suite, a level, a CPU model and (when nested) the Kvm knobs. */
export interface RunConfig {
  readonly suite: Suite;
  readonly level: Level;
  readonly cpu: CpuProfile;
  readonly strategy: ImmediateExitStrategy;
  readonly delivery: DeliveryPolicy;
  readonly seed: number;
  readonly budget?: Budget;
  /** Fault injection: the Kvm at this level (0 = on the hardware) drops emulated single-step traps. */
  readonly dropTrapLevel?: number;
}

/** The stable name of a run, the same in every output format. */
export function runId(c: RunConfig): string {
  const parts = [c.suite.name, c.level.name, c.cpu.name];
  if (c.level.depth > 0) parts.push(c.strategy, deliveryName(c.delivery));
  return parts.join('/');
}

/** The platform stack of a run: the hardware at the bottom, then `depth` Kvm levels. */
export function buildStack(c: RunConfig): { hardware: Hardware; top: VmxPlatform } {
  const hardware = new Hardware({ profile: c.cpu, budget: c.budget });
  let top: VmxPlatform = hardware;
  for (let i = 0; i < c.level.depth; i++) {
    top = new Kvm(top, {
      strategy: c.strategy,
      delivery: c.delivery,
      seed: c.seed + i,
      dropSingleStepTrap: c.dropTrapLevel === i,
    });
  }
  return { hardware, top };
}

/** A CPU profile whose self-IPIs arrive after `cycles` (the knob that breaks the self-IPI at L0). */
export function withIpiLatency(cpu: CpuProfile, cycles: number): CpuProfile {
  return withCosts(cpu, { ipiLatency: cycles }, `${cpu.name}+ipi${cycles}`);
}
