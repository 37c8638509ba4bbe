/** One pending event of the machine: an interrupt that will arrive at an absolute TSC time. */
export interface TimedEvent {
  readonly time: number;
  readonly vector: number;
  readonly kind: 'timer' | 'ipi';
  readonly seq: number;
}

/** Events ordered by time, then by the order they were scheduled (deterministic). */
export class EventQueue {
  private items: TimedEvent[] = [];
  private seq = 0;

  schedule(time: number, vector: number, kind: TimedEvent['kind']): void {
    const ev: TimedEvent = { time, vector, kind, seq: this.seq++ };
    let i = this.items.length;
    while (i > 0 && (this.items[i - 1].time > time)) i--;
    this.items.splice(i, 0, ev);
  }

  cancel(vector: number, kind: TimedEvent['kind']): void {
    this.items = this.items.filter((e) => !(e.vector === vector && e.kind === kind));
  }

  /** Time of the earliest event, Infinity when none. */
  nextTime(): number {
    return this.items.length > 0 ? this.items[0].time : Infinity;
  }

  /** Removes and returns every event due at or before `now`. */
  takeDue(now: number): TimedEvent[] {
    let n = 0;
    while (n < this.items.length && this.items[n].time <= now) n++;
    return n === 0 ? [] : this.items.splice(0, n);
  }

  get size(): number {
    return this.items.length;
  }
}
