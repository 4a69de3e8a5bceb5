/** The YAML problem reporter the sidecar config and the deploy settings share. */
import { describe, expect, it } from 'vitest';
import { PipemeterError } from '../../src/shared/errors.js';
import { didYouMean, parseYaml } from '../../src/shared/yaml-problems.js';

describe('parseYaml and Problems', () => {
  it('syntax errors come first, each as file:line:col, and throwIfAny throws them all as one error with a count', () => {
    const { problems } = parseYaml('a: 1\na: 2\nb: [\n', 'x.yaml');
    expect(problems.list.length).toBeGreaterThanOrEqual(2);
    expect(problems.list[0]).toMatch(/^x\.yaml:2:1: YAML syntax: .*; fix the syntax at this position$/);
    let err: unknown;
    try {
      problems.throwIfAny('E_TEST', 'test file');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PipemeterError);
    expect((err as PipemeterError).code).toBe('E_TEST');
    expect((err as Error).message.split('\n')[0]).toBe(`x.yaml: ${problems.list.length} problems in the test file:`);
  });

  it('add places a problem at its node', () => {
    const { root, problems } = parseYaml('top:\n  key: value\n', 'y.yaml');
    const key = (root as any).get('top', true).get('key', true);
    problems.add(key, 'top.key', 'is wrong; fix it');
    expect(problems.list).toEqual(['y.yaml:2:8: top.key: is wrong; fix it']);
    expect(() => problems.throwIfAny('E_TEST', 'test file')).toThrow(/^y\.yaml: 1 problem in the test file:\ny\.yaml:2:8: top\.key: is wrong; fix it$/);
  });

  it.each([
    ['listners', 'listeners'],
    ['stage', 'state'],
    ['probes', undefined],
  ])('didYouMean(%s) = %s', (k, want) => expect(didYouMean(k, ['listeners', 'limits', 'state'])).toBe(want));
});
