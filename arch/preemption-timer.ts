// VMX-preemption timer arithmetic (SDM 26.5.1): the timer decrements by 1 each time bit X of
// the TSC changes because the TSC increments, so between TSC values a <= b it decrements
// floor(b / 2^X) - floor(a / 2^X) times. It causes a VM exit when it reaches 0.

/** Decrements between two TSC values when counting on bit `bit`. */
export function timerTicks(bit: number, from: number, to: number): number {
  const unit = 2 ** bit;
  return Math.floor(to / unit) - Math.floor(from / unit);
}

/** The TSC value at which a timer loaded with `value` at TSC `start` reaches 0. */
export function timerDeadline(bit: number, start: number, value: number): number {
  if (value === 0) return start;
  const unit = 2 ** bit;
  return (Math.floor(start / unit) + value) * unit;
}

/** The value left in the timer at TSC `now` (0 once it expired). */
export function timerRemaining(bit: number, start: number, value: number, now: number): number {
  return Math.max(0, value - timerTicks(bit, start, now));
}
