import { RunResult } from './runner';
import { ReportLine } from './report';

/** run_tests.sh's one-line result: `PASS name (N tests, ...)`, `FAIL ...`, `SKIP name (reason)`. */
export function resultLine(r: RunResult): string {
  if (r.status === 77) return `SKIP ${r.id} (${r.skipReason})`;
  const s = r.summary;
  const parts = [`${s.tests} tests`];
  if (s.failures) parts.push(`${s.failures} unexpected failures`);
  if (s.kfailures) parts.push(`${s.kfailures} known failures`);
  if (s.xfailures) parts.push(`${s.xfailures} expected failures`);
  if (s.skipped) parts.push(`${s.skipped} skipped`);
  if (r.aborted !== undefined) parts.push(`aborted: ${r.aborted}`);
  return `${r.status === 0 ? 'PASS' : 'FAIL'} ${r.id} (${parts.join(', ')})`;
}

/** Console output: each run's log under a header naming its configuration, then the results. */
export function consoleOutput(results: readonly RunResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    out.push(`=== ${r.id}`);
    out.push(...r.log);
    out.push('');
  }
  out.push(...results.map(resultLine));
  return out;
}

function tapDirective(line: ReportLine): string {
  switch (line.verdict) {
    case 'SKIP': return ' # skip';
    case 'KFAIL': return ` # TODO known failure${line.reason ? `: ${line.reason}` : ''}`;
    case 'XFAIL': return ' # TODO';
    default: return '';
  }
}

/** An XPASS is an unexpected failure (lib/report.c counts it so): a failing point. */
function tapOk(line: ReportLine): boolean {
  return line.verdict === 'PASS' || line.verdict === 'SKIP';
}

/** The points of one run: its report lines, and one more for an abort or a skipped init. */
function points(r: RunResult): Array<{ ok: boolean; text: string; directive: string }> {
  const pts = r.reports.filter((l) => l.verdict !== 'INFO').map((l) => ({
    ok: tapOk(l), text: l.verdict === 'XPASS' ? `${l.text} (XPASS)` : l.text, directive: tapDirective(l),
  }));
  if (r.aborted !== undefined) pts.push({ ok: false, text: `aborted: ${r.aborted}`, directive: '' });
  else if (r.status === 77 && pts.length === 0) pts.push({ ok: true, text: r.id, directive: ` # skip ${r.skipReason}` });
  return pts;
}

/** TAP 13 as run_tests.sh -t prints it: one point per report line, `<testname>: <message>`. */
export function tap13(results: readonly RunResult[]): string[] {
  const out = ['TAP version 13'];
  let n = 0;
  for (const r of results) {
    for (const p of points(r)) {
      n++;
      const name = p.text === r.id ? r.id : `${r.id}: ${p.text}`;
      out.push(`${p.ok ? 'ok' : 'not ok'} ${n} - ${escapeTap(name)}${p.directive}`);
    }
  }
  out.push(`1..${n}`);
  return out;
}

/** TAP 14 with one subtest per run. */
export function tap14(results: readonly RunResult[]): string[] {
  const out = ['TAP version 14'];
  results.forEach((r, i) => {
    const pts = points(r);
    out.push(`# Subtest: ${escapeTap(r.id)}`);
    pts.forEach((p, j) => out.push(`    ${p.ok ? 'ok' : 'not ok'} ${j + 1} - ${escapeTap(p.text)}${p.directive}`));
    out.push(`    1..${pts.length}`);
    const skip = r.status === 77 ? ` # SKIP ${r.skipReason}` : '';
    out.push(`${r.status === 1 ? 'not ok' : 'ok'} ${i + 1} - ${escapeTap(r.id)}${skip}`);
  });
  out.push(`1..${results.length}`);
  return out;
}

/** '#' starts a directive in TAP; escape it in names. */
function escapeTap(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/#/g, '\\#');
}
