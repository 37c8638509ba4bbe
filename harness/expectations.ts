import { hasBrokenPreemptionTimer } from '../kvm/errata';
import { RunConfig } from './matrix';

/**
 * Known failures: which configurations are expected to fail which check, and why. This is
 * metadata applied to a computed result (a failing check becomes KFAIL / TAP "# TODO"); it
 * never decides a result, and a check that passes is reported as a pass.
 */
export interface KnownFailure {
  readonly check: RegExp;
  readonly applies: (c: RunConfig) => boolean;
  readonly reason: (c: RunConfig) => string;
}

/** The strategy a Kvm level of this run ends up with (KVM's rule reads the CPUID signature). */
function effectiveStrategy(c: RunConfig): 'self-ipi' | 'preemption-timer' {
  if (c.strategy !== 'kvm') return c.strategy;
  return hasBrokenPreemptionTimer(c.cpu.signature) ? 'self-ipi' : 'preemption-timer';
}

export const KNOWN_FAILURES: readonly KnownFailure[] = [
  {
    check: /^(busy-wait for preemption timer|preemption timer during hlt)$/,
    applies: (c) => c.level.depth === 0 && c.cpu.timerErratum !== undefined,
    reason: (c) => `erratum ${c.cpu.timerErratum}: the timer counts on TSC bit ${c.cpu.timerCountingBit}, not the rate IA32_VMX_MISC reports`,
  },
  {
    check: /^preemption timer with 0 value/,
    applies: (c) => c.level.depth >= 2 && effectiveStrategy(c) === 'self-ipi' && c.delivery.kind !== 'eager',
    reason: (c) =>
      `self-IPI immediate exit of a nested KVM, delivered late by the level below (${c.delivery.kind}); fixed by d264ee0c` +
      (c.strategy === 'kvm' ? ', but KVM strips the timer on this errata CPU' : ''),
  },
];

/** The reason a failing check of this run is known, or undefined. */
export function knownFailureReason(c: RunConfig, text: string, rules: readonly KnownFailure[] = KNOWN_FAILURES): string | undefined {
  const rule = rules.find((r) => r.check.test(text) && r.applies(c));
  return rule?.reason(c);
}
