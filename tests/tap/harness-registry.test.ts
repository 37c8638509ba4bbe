// Test selection as kvm-unit-tests does it: name globs, '-' exclusions, groups.
import t from 'tap';
import { defineSuite, globMatch, selectSuites, Suite } from '../../harness/registry';

const suite = (name: string, ...groups: string[]): Suite =>
  defineSuite({ name, groups, create: () => { throw new Error(`${name} must not run`); } });

const ALL = [
  suite('preemption_timer', 'vmx', 'preemption'),
  suite('vmx_preemption_timer_zero_test', 'vmx', 'preemption'),
  suite('vmx_controls', 'vmx'),
  suite('apic', 'apic'),
];
const names = (sel: ReturnType<typeof selectSuites>) => ('suites' in sel ? sel.suites.map((s) => s.name) : sel);

t.test('globMatch', async (t) => {
  t.ok(globMatch('preemption_timer', 'preemption_timer'));
  t.ok(globMatch('preemption timer', 'preemption_timer'), 'a space matches the _ of the name');
  t.notOk(globMatch('preemption', 'preemption_timer'), 'the whole name must match');
  t.notOk(globMatch('timer', 'preemption_timer'));
  t.ok(globMatch('preempt*', 'preemption_timer'));
  t.ok(globMatch('*timer', 'preemption_timer'));
  t.ok(globMatch('*', 'apic'));
  t.ok(globMatch('ap?c', 'apic'));
  t.notOk(globMatch('ap?c', 'apc'), '? is exactly one character');
  t.notOk(globMatch('ap?c', 'apiic'));
  t.notOk(globMatch('a.ic', 'apic'), '. is literal');
  t.ok(globMatch('a.ic', 'a.ic'));
  t.notOk(globMatch('a+', 'aa'), '+ is literal');
  t.notOk(globMatch('[ab]pic', 'apic'), 'brackets are literal');
});

t.test('selectSuites', async (t) => {
  t.same(names(selectSuites(ALL, [])), ALL.map((s) => s.name), 'no argument selects all');
  t.same(names(selectSuites(ALL, ['apic'])), ['apic']);
  t.same(names(selectSuites(ALL, ['*preemption*'])), ['preemption_timer', 'vmx_preemption_timer_zero_test']);
  t.same(names(selectSuites(ALL, ['apic', 'preemption_timer'])), ['preemption_timer', 'apic'], 'table order, not argument order');
  t.same(names(selectSuites(ALL, ['-apic'])), ['preemption_timer', 'vmx_preemption_timer_zero_test', 'vmx_controls'],
    'only exclusions: all but those');
  t.same(names(selectSuites(ALL, ['vmx*', '-*zero*'])), ['vmx_controls']);
  t.same(names(selectSuites(ALL, ['-*'])), [], 'everything excluded');
  t.same(names(selectSuites(ALL, [], ['preemption'])), ['preemption_timer', 'vmx_preemption_timer_zero_test']);
  t.same(names(selectSuites(ALL, [], ['apic', 'preemption'])), ['preemption_timer', 'vmx_preemption_timer_zero_test', 'apic']);
  t.same(names(selectSuites(ALL, ['vmx_controls', 'apic'], ['vmx'])), ['vmx_controls'], 'groups and names both apply');
  t.same(names(selectSuites(ALL, [], ['nosuch'])), [], 'an unknown group selects nothing');
  t.same(selectSuites(ALL, ['apic', 'nosuch', 'other']), { unknown: 'nosuch' }, 'the first pattern matching nothing');
  t.same(selectSuites(ALL, ['-nosuch']), { suites: ALL }, 'an exclusion matching nothing is not an error');
});
