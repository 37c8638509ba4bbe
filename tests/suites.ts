// The test table: one line per suite file under tests/suites/.
import { Suite } from '../harness/registry';
import preemptionTimer from './suites/preemption_timer';

export const SUITES: readonly Suite[] = [
  preemptionTimer,
];
