/**
 * When a Kvm level notices an interrupt aimed at its guest hypervisor that arrives without an
 * exit to it (the guest hypervisor's self-IPI) while the guest hypervisor's own guest runs.
 * - eager: the IPI write traps, so the interrupt is pending at once and is seen at the nested entry;
 * - lazy: APIC virtualization posts it without an exit; noticed only at the nested guest's next exit;
 * - delay: posted, and the notification arrives after K guest instructions;
 * - random: each IPI draws its K from the seeded generator (0 behaves as eager).
 */
export type DeliveryPolicy =
  | { readonly kind: 'eager' }
  | { readonly kind: 'lazy' }
  | { readonly kind: 'delay'; readonly instructions: number }
  | { readonly kind: 'random'; readonly maxInstructions: number };

export function deliveryName(p: DeliveryPolicy): string {
  switch (p.kind) {
    case 'eager':
    case 'lazy':
      return p.kind;
    case 'delay':
      return `delay:${p.instructions}`;
    case 'random':
      return 'random';
  }
}

/** Parses eager | lazy | delay:K | random; undefined when the text is none of them. */
export function parseDelivery(text: string): DeliveryPolicy | undefined {
  if (text === 'eager' || text === 'lazy') return { kind: text };
  if (text === 'random') return { kind: 'random', maxInstructions: 16 };
  const m = /^delay:(\d{1,9})$/.exec(text);
  if (m) return { kind: 'delay', instructions: Number(m[1]) };
  return undefined;
}
