// make bench: how long the suites take on this machine.
import { bench } from '../harness/bench';
import { SUITES } from './suites';

bench(SUITES, (line) => process.stdout.write(line + '\n'));
