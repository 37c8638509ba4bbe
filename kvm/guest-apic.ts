import { DeliveryPolicy } from './delivery';
import { Rng } from './rng';

/**
 * The local APIC a Kvm level emulates for its guest hypervisor: interrupts pending for it,
 * and self-IPIs that were posted without an exit and are not yet seen by this level.
 */
export class GuestApic {
  /** Interrupts this level knows are pending for its guest. */
  readonly pending = new Set<number>();
  /** Posted (APIC-virtualization) interrupts this level has not noticed yet. */
  readonly posted = new Set<number>();
  handler: (vector: number) => void = () => undefined;

  constructor(readonly policy: DeliveryPolicy, private readonly rng: Rng) {}

  /**
   * A self-IPI of the guest hypervisor. Returns how many guest instructions may retire before
   * this level is notified: 0 when it is pending at once, undefined when only the next exit
   * reveals it.
   */
  selfIpi(vector: number): number | undefined {
    switch (this.policy.kind) {
      case 'eager':
        this.pending.add(vector);
        return 0;
      case 'lazy':
        this.posted.add(vector);
        return undefined;
      case 'delay':
      case 'random': {
        const k = this.policy.kind === 'delay' ? this.policy.instructions : this.rng.upTo(this.policy.maxInstructions);
        if (k === 0) {
          this.pending.add(vector);
          return 0;
        }
        this.posted.add(vector);
        return k;
      }
    }
  }

  /** Moves posted interrupts to pending (this level looked at the posted-interrupt descriptor). */
  syncPosted(): boolean {
    if (this.posted.size === 0) return false;
    for (const v of this.posted) this.pending.add(v);
    this.posted.clear();
    return true;
  }

  hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** Runs the guest's handler for every pending interrupt, highest vector first. */
  deliverAll(): void {
    while (this.pending.size > 0) {
      const v = Math.max(...this.pending);
      this.pending.delete(v);
      this.handler(v);
    }
  }
}
