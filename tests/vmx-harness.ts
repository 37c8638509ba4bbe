#!/usr/bin/env node
// The command line: the harness's CLI over this project's test table.
import { main } from '../harness/cli';
import { SUITES } from './suites';

process.exitCode = main(process.argv.slice(2), SUITES, {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
});
