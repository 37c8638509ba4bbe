// Output formats of real runs: run_tests.sh result lines, TAP 13 (checked with Perl's prove when
// present) and TAP 14 (checked with tap-parser).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BOCHS_2_7, COFFEE_LAKE, NEHALEM_AAK139 } from '../../arch/cpu-profile';
import { ClassicTest } from '../../harness/classic';
import { DOUBLE_NESTED, NATIVE, SINGLE_NESTED } from '../../harness/matrix';
import { resultLine, tap13, tap14 } from '../../harness/output';
import { defineSuite } from '../../harness/registry';
import { RunResult } from '../../harness/runner';
import { TestAbort } from '../../harness/vmx-env';
import { NO_TIMER, parseTap, run } from './helpers/harness';

const passing = run(BOCHS_2_7, NATIVE);
const known = run(NEHALEM_AAK139, NATIVE);
const nested = run(COFFEE_LAKE, SINGLE_NESTED);
const skipped = run(NO_TIMER, NATIVE);
const strictFail = run(COFFEE_LAKE, DOUBLE_NESTED, { strategy: 'self-ipi', delivery: { kind: 'lazy' }, strict: true });
const MATRIX = [passing, known, nested, skipped];
const ERRATUM = 'erratum AAK139: the timer counts on TSC bit 3, not the rate IA32_VMX_MISC reports';

/** A one-off suite whose init does `body` and declines to run the guest. */
function initOnly(name: string, body: (t: ClassicTest, r: Parameters<NonNullable<ClassicTest['init']>>[0]) => void) {
  return defineSuite({
    name, groups: [],
    create: (): ClassicTest => {
      const test: ClassicTest = {
        kind: 'classic', name,
        init: (env) => { body(test, env); return 'EXIT'; },
        guestMain: () => undefined,
        exitHandler: () => 'VMEXIT',
      };
      return test;
    },
  });
}

t.test('the runs behind these tests', async (t) => {
  t.same([passing, known, nested, skipped, strictFail].map((r) => r.status), [0, 0, 0, 77, 1]);
});

t.test('resultLine', async (t) => {
  t.equal(resultLine(passing), 'PASS preemption_timer/native/bochs-2.7 (5 tests)');
  t.equal(resultLine(known), 'PASS preemption_timer/native/nehalem-aak139 (5 tests, 2 known failures)');
  t.equal(resultLine(strictFail), 'FAIL preemption_timer/double-nested/coffee-lake/self-ipi/lazy (5 tests, 1 unexpected failures)');
  t.equal(resultLine(skipped), 'SKIP preemption_timer/native/no-timer (Preemption timer is not supported)');
  const aborted = run(BOCHS_2_7, NATIVE, { suite: initOnly('aborts', () => { throw new TestAbort('no way'); }) });
  t.equal(aborted.status, 1);
  t.equal(resultLine(aborted), 'FAIL aborts/native/bochs-2.7 (0 tests, aborted: no way)');
  t.equal(tap13([aborted])[1], 'not ok 1 - aborts/native/bochs-2.7: aborted: no way');
});

t.test('tap13', async (t) => {
  const out = tap13(MATRIX);
  t.equal(out[0], 'TAP version 13');
  const expected: string[] = [];
  for (const r of MATRIX) {
    for (const l of r.reports.filter((x) => x.verdict !== 'INFO')) expected.push(`${r.id}: ${l.text}`);
    if (r.status === 77) expected.push(r.id);
  }
  t.equal(expected.length, 16, '5 + 5 + 5 checks and one point for the skipped run');
  t.equal(out.length, expected.length + 2);
  t.equal(out[out.length - 1], `1..${expected.length}`, 'the plan comes last');
  out.slice(1, -1).forEach((line, i) => {
    const m = /^(?:ok|not ok) (\d+) - (.*?)(?: # .*)?$/.exec(line);
    t.ok(m, `point line: ${line}`);
    t.equal(Number(m?.[1]), i + 1, 'consecutive numbers across runs');
    t.equal(m?.[2], expected[i]);
  });
  t.equal(out[1], 'ok 1 - preemption_timer/native/bochs-2.7: Keep preemption value');
  t.equal(out[8], `not ok 8 - preemption_timer/native/nehalem-aak139: busy-wait for preemption timer # TODO known failure: ${ERRATUM}`);
  t.equal(out[9], `not ok 9 - preemption_timer/native/nehalem-aak139: preemption timer during hlt # TODO known failure: ${ERRATUM}`);
  t.equal(out[16], 'ok 16 - preemption_timer/native/no-timer # skip Preemption timer is not supported');
  t.equal(tap13([strictFail])[5], 'not ok 5 - preemption_timer/double-nested/coffee-lake/self-ipi/lazy: preemption timer with 0 value (vmcall stage 5)');
  t.same(tap13([]), ['TAP version 13', '1..0']);
});

const prove = spawnSync('which', ['prove'], { encoding: 'utf8' });
const proveMissing = prove.status !== 0 ? 'prove (Perl) is not installed' : false;

t.test('prove accepts a passing matrix and rejects an unexpected failure', { skip: proveMissing }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'harness-tap13-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const proveOn = (name: string, results: RunResult[]) => {
    const file = join(dir, `${name}.tap`);
    writeFileSync(file, tap13(results).join('\n') + '\n');
    return spawnSync('prove', ['-e', 'cat', file], { encoding: 'utf8' });
  };
  const good = proveOn('good', MATRIX);
  t.equal(good.status, 0, good.stdout);
  const kfail = proveOn('kfail', [run(COFFEE_LAKE, DOUBLE_NESTED, { strategy: 'self-ipi' })]);
  t.equal(kfail.status, 0, 'the same run without strict: a known failure is a TODO');
  const bad = proveOn('bad', [passing, strictFail]);
  t.not(bad.status, 0, 'strict failure fails prove');
  t.match(bad.stdout, /Failed test:\s+10\b/);
});

t.test('tap14', async (t) => {
  const out = tap14(MATRIX);
  t.equal(out[0], 'TAP version 14');
  t.equal(out[out.length - 1], `1..${MATRIX.length}`);
  const subtests = out.filter((l) => l.startsWith('# Subtest: '));
  t.same(subtests, MATRIX.map((r) => `# Subtest: ${r.id}`));
  const indented = out.filter((l) => l.startsWith(' '));
  t.equal(indented.length, 16 + MATRIX.length, 'every point and plan of a subtest is indented');
  for (const l of indented) t.match(l, /^ {4}(ok|not ok|1\.\.)/, 'indented by exactly 4 spaces');
  t.ok(out.includes('ok 2 - preemption_timer/native/nehalem-aak139'));
  t.ok(out.includes('ok 4 - preemption_timer/native/no-timer # SKIP Preemption timer is not supported'));

  const good = await parseTap(out);
  t.equal(good.final.ok, true);
  t.equal(good.final.count, MATRIX.length, 'one top-level point per run');
  t.equal(good.final.skip, 1);
  t.same(good.children, MATRIX.map((r) => r.id), 'subtests are named by run id');

  const bad = await parseTap(tap14([passing, strictFail]));
  t.equal(bad.final.ok, false);
  t.equal(bad.final.count, 2);
  t.equal(bad.final.fail, 1);
  t.equal(bad.final.failures[0]?.name, strictFail.id);
});

t.test('an XPASS (an unexpected failure) fails in every format', async (t) => {
  const xpass = run(BOCHS_2_7, NATIVE, { suite: initOnly('xpass', (_t, env) => { env.reporter.xfail(true, true, 'surprise'); }) });
  t.equal(xpass.status, 1, 'XPASS counts as an unexpected failure');
  t.equal(resultLine(xpass), 'FAIL xpass/native/bochs-2.7 (1 tests, 1 unexpected failures)');
  t.equal((await parseTap(tap14([xpass]))).final.ok, false, 'TAP 14: the run is not ok');
  const out = tap13([xpass]);
  t.ok(out.some((l) => l.startsWith('not ok ') && !/ # (TODO|skip)/i.test(l)), 'TAP 13 has a failing point for it');
});
