import { ClassicTest } from './classic';

/** A test definition: classic (init/guest/exit handler) or v2 (a host-side body). */
export type TestDefinition = ClassicTest;

/** One entry of the test table, as a line of kvm-unit-tests' unittests.cfg. */
export interface Suite {
  /** The selection name: kvm-unit-tests' test name with spaces as '_'. */
  readonly name: string;
  readonly groups: readonly string[];
  /** A fresh test object for one run (its globals start anew). */
  readonly create: () => TestDefinition;
}

export function defineSuite(suite: Suite): Suite {
  return suite;
}

/** A glob as kvm-unit-tests takes test names: '*' and '?' wildcards, spaces written as '_'. */
export function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    '^' + pattern.replace(/ /g, '_').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$',
  );
  return re.test(name);
}

/**
 * Selects suites by name globs; an argument starting with '-' excludes; no positive argument
 * means every suite. Returns the selection, or the first positive pattern that matched nothing.
 */
export function selectSuites(all: readonly Suite[], args: readonly string[], groups: readonly string[] = []):
  { suites: Suite[] } | { unknown: string } {
  const include = args.filter((a) => !a.startsWith('-'));
  const exclude = args.filter((a) => a.startsWith('-')).map((a) => a.slice(1));
  for (const p of include) {
    if (!all.some((s) => globMatch(p, s.name))) return { unknown: p };
  }
  const suites = all.filter((s) =>
    (include.length === 0 || include.some((p) => globMatch(p, s.name))) &&
    !exclude.some((p) => globMatch(p, s.name)) &&
    (groups.length === 0 || groups.some((g) => s.groups.includes(g))));
  return { suites };
}
