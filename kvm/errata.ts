// KVM's list of CPUs whose VMX-preemption timer does not count at the rate IA32_VMX_MISC
// reports (vmx.c: vmx_preemption_timer_errata / cpu_has_broken_vmx_preemption_timer).
// Matched on CPUID.1:EAX with bits 15:14 and 31:28 cleared.
export const BROKEN_TIMER_SIGNATURES: ReadonlyMap<number, string> = new Map([
  [0x000206e6, 'Xeon 7500 (BA86)'],
  [0x00020652, 'Core i5/i3 600 (AAX65)'],
  [0x00020655, 'Core i5/i3 600 (AAX65)'],
  [0x000106e5, 'Xeon 3400, Core i7/i5 800 (AAO95, AAN92)'],
  [0x000106a0, 'Xeon 5500 (AAK139)'],
  [0x000106a1, 'Xeon 5500 (AAK139)'],
  [0x000106a4, 'Core i7-900 (AAJ124), Xeon 5500 (AAK139)'],
  [0x000106a5, 'Core i7-900 D0 (AAJ124), Xeon 5500 D0 (AAK139)'],
  [0x000306a8, 'Xeon E3-1220 V2'],
]);

export function hasBrokenPreemptionTimer(signature: number): boolean {
  return BROKEN_TIMER_SIGNATURES.has((signature & ~0xf000c000) >>> 0);
}
