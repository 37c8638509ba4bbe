// The kvm-unit-tests report API (lib/report.c semantics): PASS/FAIL/SKIP/XFAIL/XPASS/KFAIL/INFO
// lines with pushed prefixes, a summary line and the exit status.

export type Verdict = 'PASS' | 'FAIL' | 'SKIP' | 'XFAIL' | 'XPASS' | 'KFAIL';

export interface ReportLine {
  readonly verdict: Verdict | 'INFO';
  /** The message with its prefixes, as printed after "VERDICT: ". */
  readonly text: string;
  /** Why a failure is known, for a KFAIL that came from the project's expectations. */
  readonly reason?: string;
}

export interface Summary {
  readonly tests: number;
  readonly failures: number;
  readonly kfailures: number;
  readonly xfailures: number;
  readonly skipped: number;
}

/** Decides whether a failing check is a known failure; returns the reason, or undefined. */
export type KnownFailureLookup = (text: string) => string | undefined;

export class Reporter {
  readonly lines: ReportLine[] = [];
  private readonly prefixes: string[] = [];
  private tests = 0;
  private failures = 0;
  private kfailures = 0;
  private xfailures = 0;
  private skipped = 0;

  constructor(
    private readonly print: (line: string) => void = () => undefined,
    private readonly knownFailure: KnownFailureLookup = () => undefined,
  ) {}

  prefixPush(prefix: string): void {
    this.prefixes.push(prefix);
  }

  prefixPop(): void {
    this.prefixes.pop();
  }

  private full(message: string): string {
    return this.prefixes.map((p) => `${p}: `).join('') + message;
  }

  private emit(verdict: ReportLine['verdict'], text: string, reason?: string): void {
    this.lines.push({ verdict, text, reason });
    this.print(`${verdict}: ${text}`);
  }

  private record(pass: boolean, message: string, xfail: boolean, kfail: boolean, skip: boolean): boolean {
    const text = this.full(message);
    this.tests++;
    let reason: string | undefined;
    if (!skip && !xfail && !kfail && !pass) {
      reason = this.knownFailure(text);
      kfail = reason !== undefined;
    }
    const verdict: Verdict = skip ? 'SKIP' : xfail ? (pass ? 'XPASS' : 'XFAIL') : kfail ? (pass ? 'PASS' : 'KFAIL') : pass ? 'PASS' : 'FAIL';
    if (skip) this.skipped++;
    else if (xfail && !pass) this.xfailures++;
    else if (kfail && !pass) this.kfailures++;
    else if (xfail || !pass) this.failures++;
    this.emit(verdict, text, verdict === 'KFAIL' ? reason : undefined);
    return pass;
  }

  /** report(cond, msg): PASS or FAIL. */
  report(pass: boolean, message: string): boolean {
    return this.record(pass, message, false, false, false);
  }

  pass(message: string): void {
    this.record(true, message, false, false, false);
  }

  fail(message: string): void {
    this.record(false, message, false, false, false);
  }

  /** report_xfail: when `xfail`, a failure is expected (XFAIL) and a pass is unexpected (XPASS). */
  xfail(xfail: boolean, pass: boolean, message: string): boolean {
    return this.record(pass, message, xfail, false, false);
  }

  /** report_kfail: when `kfail`, a failure is known (KFAIL, counted apart, not a failure). */
  kfail(kfail: boolean, pass: boolean, message: string): boolean {
    return this.record(pass, message, false, kfail, false);
  }

  skip(message: string): void {
    this.record(true, message, false, false, true);
  }

  info(message: string): void {
    this.emit('INFO', this.full(message));
  }

  summary(): Summary {
    return { tests: this.tests, failures: this.failures, kfailures: this.kfailures, xfailures: this.xfailures, skipped: this.skipped };
  }
}

/** The SUMMARY line of lib/report.c. */
export function summaryLine(s: Summary): string {
  let line = `SUMMARY: ${s.tests} tests`;
  if (s.failures) line += `, ${s.failures} unexpected failures`;
  if (s.kfailures) line += `, ${s.kfailures} known failures`;
  if (s.xfailures) line += `, ${s.xfailures} expected failures`;
  if (s.skipped) line += `, ${s.skipped} skipped`;
  return line;
}

/** Exit status of a test binary: 77 when every test was skipped, 1 on unexpected failures, else 0. */
export function summaryStatus(s: Summary): number {
  if (s.tests === s.skipped) return 77;
  return s.failures > 0 ? 1 : 0;
}
