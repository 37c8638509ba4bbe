// The command line's `main` with an in-memory io: selection, options, usage errors, exit status.
import t from 'tap';
import { Suite } from '../../harness/registry';
import preemptionTimer from '../suites/preemption_timer';
import { cli } from './helpers/harness';

const BOCHS_PASSES = [
  'PASS: Keep preemption value',
  'PASS: Save preemption value',
  'PASS: busy-wait for preemption timer',
  'PASS: preemption timer during hlt',
  'PASS: preemption timer with 0 value',
];
const NESTED_SELF_IPI = ['--level', 'double-nested', '--cpu', 'coffee-lake', '--immediate-exit', 'self-ipi', '--delivery', 'lazy', 'preemption_timer'];

t.test('one native Bochs run', async (t) => {
  const r = cli(['--level', 'native', '--cpu', 'bochs-2.7', 'preemption_timer']);
  t.equal(r.code, 0);
  t.same(r.err, []);
  t.same(r.out.filter((l) => /^[A-Z]+: /.test(l) && !l.startsWith('SUMMARY')), BOCHS_PASSES, 'five PASS lines, in order');
  t.ok(r.out.includes('Test suite: preemption timer'));
  t.ok(r.out.includes('SUMMARY: 5 tests'));
  t.equal(r.out[0], '=== preemption_timer/native/bochs-2.7');
  t.equal(r.out[r.out.length - 1], 'PASS preemption_timer/native/bochs-2.7 (5 tests)');
});

t.test('usage errors: exit 2 and one line on stderr', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--bogus'], /unknown option: --bogus/],
    [['-x'], /unknown option: -x/],
    [['nosuch'], /unknown test: nosuch/],
    [['-nosuch'], /unknown test: nosuch/],
    [['--cpu', 'pentium'], /unknown CPU model: pentium/],
    [['--level', 'triple-nested'], /unknown level: triple-nested/],
    [['--level'], /--level needs a value/],
    [['--depth', 'two'], /--depth/],
    [['--depth', '100'], /--depth/],
    [['--depth'], /--depth/],
    [['--delivery', 'sometimes'], /unknown delivery policy: sometimes/],
    [['--delivery', 'delay:'], /unknown delivery policy/],
    [['--immediate-exit', 'nmi'], /unknown immediate-exit strategy: nmi/],
    [['--seed', '-1'], /--seed/],
  ];
  for (const [argv, message] of cases) {
    const r = cli(['--level', 'native', ...argv]);
    t.equal(r.code, 2, argv.join(' '));
    t.same(r.out, [], `${argv.join(' ')}: nothing ran`);
    t.equal(r.err.length, 1, `${argv.join(' ')}: one stderr line`);
    t.match(r.err[0], /^vmx-harness: /);
    t.match(r.err[0], message);
    t.notMatch(r.err[0], /\n/, 'a single line');
  }
});

t.test('-l lists the selected runs without running them', async (t) => {
  let created = 0;
  const spy: Suite = { ...preemptionTimer, create: () => { created++; return preemptionTimer.create(); } };
  const r = cli(['-l', '--cpu', 'bochs-2.7,coffee-lake', '--immediate-exit', 'self-ipi,kvm'], [spy]);
  t.equal(r.code, 0);
  t.same(r.out, [
    'preemption_timer/native/bochs-2.7',
    'preemption_timer/single-nested/bochs-2.7/self-ipi/lazy',
    'preemption_timer/single-nested/bochs-2.7/kvm/lazy',
    'preemption_timer/double-nested/bochs-2.7/self-ipi/lazy',
    'preemption_timer/double-nested/bochs-2.7/kvm/lazy',
    'preemption_timer/native/coffee-lake',
    'preemption_timer/single-nested/coffee-lake/self-ipi/lazy',
    'preemption_timer/single-nested/coffee-lake/kvm/lazy',
    'preemption_timer/double-nested/coffee-lake/self-ipi/lazy',
    'preemption_timer/double-nested/coffee-lake/kvm/lazy',
  ]);
  t.equal(created, 0, 'no test object was created');
  t.same(cli(['--list', '--depth', '3', '--cpu', 'bochs-2.7', '--delivery', 'eager,delay:4']).out, [
    'preemption_timer/depth-3/bochs-2.7/kvm/eager',
    'preemption_timer/depth-3/bochs-2.7/kvm/delay:4',
  ]);
});

t.test('globs and exclusions', async (t) => {
  const glob = cli(['-l', '--level', 'native', 'preempt*']);
  t.equal(glob.code, 0);
  t.same(glob.out, ['preemption_timer/native/coffee-lake', 'preemption_timer/native/nehalem-aak139', 'preemption_timer/native/bochs-2.7']);
  t.same(cli(['-l', '--level', 'native', '-g', 'preemption']).out, glob.out, 'by group');
  t.same(cli(['-l', '--level', 'native', '-g', 'apic']).out, [], 'an unselected group');
  const excluded = cli(['-preemption_timer']);
  t.equal(excluded.code, 0, 'nothing selected is not an error');
  t.same(excluded.out, [], 'no runs');
  t.same(excluded.err, []);
  t.same(cli(['-l', 'preempt*', '-preemption_timer']).out, []);
});

t.test('a known failure: KFAIL by default, FAIL with --strict', async (t) => {
  const strict = cli(['--strict', ...NESTED_SELF_IPI]);
  t.equal(strict.code, 1);
  t.ok(strict.out.includes('FAIL: preemption timer with 0 value (vmcall stage 5)'), strict.out.join('\n'));
  t.ok(strict.out.includes('FAIL preemption_timer/double-nested/coffee-lake/self-ipi/lazy (5 tests, 1 unexpected failures)'));
  const lenient = cli(NESTED_SELF_IPI);
  t.equal(lenient.code, 0);
  t.ok(lenient.out.includes('KFAIL: preemption timer with 0 value (vmcall stage 5)'), lenient.out.join('\n'));
  t.notOk(lenient.out.some((l) => l.startsWith('FAIL')));
  t.same(cli(['-q', ...NESTED_SELF_IPI]).out, ['PASS preemption_timer/double-nested/coffee-lake/self-ipi/lazy (5 tests, 1 known failures)']);
  const tap = cli(['--strict', '-t', ...NESTED_SELF_IPI]);
  t.equal(tap.code, 1);
  t.equal(tap.out[0], 'TAP version 13');
  t.equal(tap.out[tap.out.length - 1], '1..5');
});

t.test('the same arguments give the same output', async (t) => {
  const argv = ['--level', 'double-nested', '--cpu', 'all', '--immediate-exit', 'all', '--delivery', 'random', '--seed', '7'];
  const a = cli(argv);
  const b = cli(argv);
  t.equal(a.out.length > 0, true);
  t.same(b, a);
  t.same(cli(['--tap14', ...NESTED_SELF_IPI]), cli(['--tap14', ...NESTED_SELF_IPI]));
});

t.test('-h prints the usage and exits 0', async (t) => {
  for (const flag of ['-h', '--help']) {
    const r = cli([flag, 'preemption_timer']);
    t.equal(r.code, 0);
    t.same(r.err, []);
    t.equal(r.out.length, 1);
    t.match(r.out[0], /^usage: vmx-harness /);
    t.match(r.out[0], /--strict/);
    t.match(r.out[0], /bochs-2\.7/, 'names the CPU models');
  }
});

t.test('flags take no value and a lone dash is no test name', async (t) => {
  for (const argv of [['--strict=no'], ['--list=x'], ['-']]) {
    const r = cli(argv);
    t.equal(r.code, 2, argv.join(" "));
    t.equal(r.err.length, 1);
  }
});
