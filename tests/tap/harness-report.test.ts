// The report API of harness/report.ts against lib/report.c: verdict lines, prefixes, counters,
// the SUMMARY line and the exit status.
import t from 'tap';
import { KnownFailureLookup, Reporter, summaryLine, summaryStatus } from '../../harness/report';

function reporter(lookup?: KnownFailureLookup): { r: Reporter; printed: string[] } {
  const printed: string[] = [];
  return { r: new Reporter((l) => printed.push(l), lookup), printed };
}

t.test('PASS/FAIL lines carry the pushed prefixes joined by ": "', async (t) => {
  const { r, printed } = reporter();
  t.equal(r.report(true, 'plain'), true, 'report returns the condition');
  r.prefixPush('outer');
  r.prefixPush('inner');
  t.equal(r.report(false, 'nested'), false);
  r.prefixPop();
  r.pass('one level');
  r.prefixPop();
  r.fail('no prefix');
  t.same(printed, ['PASS: plain', 'FAIL: outer: inner: nested', 'PASS: outer: one level', 'FAIL: no prefix']);
  t.same(r.lines.map((l) => [l.verdict, l.text]), [
    ['PASS', 'plain'], ['FAIL', 'outer: inner: nested'], ['PASS', 'outer: one level'], ['FAIL', 'no prefix'],
  ]);
  t.same(r.summary(), { tests: 4, failures: 2, kfailures: 0, xfailures: 0, skipped: 0 });
});

t.test('xfail: XFAIL is expected, XPASS is an unexpected failure', async (t) => {
  const { r, printed } = reporter();
  t.equal(r.xfail(true, false, 'expected to fail'), false);
  t.same(r.summary(), { tests: 1, failures: 0, kfailures: 0, xfailures: 1, skipped: 0 });
  t.equal(summaryStatus(r.summary()), 0, 'an expected failure does not fail the test');
  t.equal(r.xfail(true, true, 'passes anyway'), true);
  t.same(r.summary(), { tests: 2, failures: 1, kfailures: 0, xfailures: 1, skipped: 0 });
  t.equal(summaryStatus(r.summary()), 1, 'XPASS fails the test');
  r.xfail(false, true, 'plain pass');
  r.xfail(false, false, 'plain fail');
  t.same(printed, ['XFAIL: expected to fail', 'XPASS: passes anyway', 'PASS: plain pass', 'FAIL: plain fail']);
  t.equal(r.summary().failures, 2);
});

t.test('kfail: KFAIL is counted as known, not as a failure', async (t) => {
  const { r, printed } = reporter();
  t.equal(r.kfail(true, false, 'known'), false);
  r.kfail(true, true, 'known but passing');
  t.same(printed, ['KFAIL: known', 'PASS: known but passing']);
  t.same(r.summary(), { tests: 2, failures: 0, kfailures: 1, xfailures: 0, skipped: 0 });
  t.equal(summaryStatus(r.summary()), 0);
  r.kfail(false, false, 'not known');
  t.equal(printed[2], 'FAIL: not known');
  t.equal(summaryStatus(r.summary()), 1);
});

t.test('skip is a test and a skip; info is printed but not counted', async (t) => {
  const { r, printed } = reporter();
  r.prefixPush('p');
  r.skip('no hardware');
  r.info('just saying');
  t.same(printed, ['SKIP: p: no hardware', 'INFO: p: just saying']);
  t.same(r.lines.map((l) => l.verdict), ['SKIP', 'INFO']);
  t.same(r.summary(), { tests: 1, failures: 0, kfailures: 0, xfailures: 0, skipped: 1 });
});

t.test('the known-failure lookup turns a FAIL into a KFAIL with its reason', async (t) => {
  const asked: string[] = [];
  const { r, printed } = reporter((text) => {
    asked.push(text);
    return text === 'grp: flaky' ? 'erratum 42' : undefined;
  });
  r.prefixPush('grp');
  r.fail('flaky');
  r.fail('broken');
  r.pass('flaky');
  r.xfail(true, false, 'flaky');
  t.same(printed, ['KFAIL: grp: flaky', 'FAIL: grp: broken', 'PASS: grp: flaky', 'XFAIL: grp: flaky']);
  t.same(asked, ['grp: flaky', 'grp: broken'], 'consulted only for plain failures, with the prefixed text');
  t.equal(r.lines[0].reason, 'erratum 42');
  t.equal(r.lines[1].reason, undefined);
  t.equal(r.lines[2].reason, undefined, 'a passing check stays a pass without a reason');
  t.same(r.summary(), { tests: 4, failures: 1, kfailures: 1, xfailures: 1, skipped: 0 });
});

t.test('summaryLine prints only the non-zero counters, in lib/report.c order', async (t) => {
  const { r } = reporter((text) => (text.startsWith('k') ? 'known' : undefined));
  r.pass('a');
  r.fail('bad');
  r.fail('k1');
  r.kfail(true, false, 'k2');
  r.xfail(true, false, 'x');
  r.skip('s');
  t.equal(r.summary().tests, 6);
  t.equal(summaryLine(r.summary()), 'SUMMARY: 6 tests, 1 unexpected failures, 2 known failures, 1 expected failures, 1 skipped');
  t.equal(summaryLine({ tests: 5, failures: 1, kfailures: 2, xfailures: 1, skipped: 1 }),
    'SUMMARY: 5 tests, 1 unexpected failures, 2 known failures, 1 expected failures, 1 skipped');
  t.equal(summaryLine({ tests: 5, failures: 0, kfailures: 0, xfailures: 0, skipped: 0 }), 'SUMMARY: 5 tests');
  t.equal(summaryLine({ tests: 3, failures: 0, kfailures: 1, xfailures: 0, skipped: 2 }), 'SUMMARY: 3 tests, 1 known failures, 2 skipped');
  t.equal(summaryLine({ tests: 0, failures: 0, kfailures: 0, xfailures: 0, skipped: 0 }), 'SUMMARY: 0 tests');
});

t.test('summaryStatus: 0, 1, or 77 when everything (or nothing) was skipped', async (t) => {
  const s = (tests: number, failures: number, skipped: number, kfailures = 0, xfailures = 0) =>
    summaryStatus({ tests, failures, kfailures, xfailures, skipped });
  t.equal(s(5, 0, 0), 0);
  t.equal(s(5, 0, 0, 2, 1), 0, 'known and expected failures pass');
  t.equal(s(5, 1, 0), 1);
  t.equal(s(2, 0, 2), 77, 'all skipped');
  t.equal(s(0, 0, 0), 77, 'no tests at all');
  t.equal(s(3, 0, 2), 0, 'some skipped, rest passed');
  t.equal(s(3, 1, 2), 1, 'some skipped, one failed');
  const { r } = reporter();
  t.equal(summaryStatus(r.summary()), 77, 'a fresh reporter has no tests');
  r.skip('x');
  t.equal(summaryStatus(r.summary()), 77);
  r.pass('y');
  t.equal(summaryStatus(r.summary()), 0);
});
