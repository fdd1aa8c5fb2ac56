// Shared by the cluster lab tests (cluster-labs*.test.ts): one lab case is a set of rules the recording stubs answer
// by, the calls a full run makes in order, and rules that keep the cluster broken after the fix. describeLab runs the
// three runs every lab must survive: full run passes, --no-fix fails verify, a broken measurement after the fix fails.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from './support';
import type { ExtraTool, Rule, StubRun } from './stub-tools';
import { missingInOrder, runWithStubs } from './stub-tools';

export const RUN = join(repoRoot, 'k8s', 'labs', 'run.sh');
export const CONTEXT: Rule = {
  tool: 'kubectl',
  has: ['config current-context'],
  stdout: 'kind-cloud-native-shop\n',
};
/** An instant query's answer with one series whose value is the state's key. */
export const promAnswer = (key: string) =>
  `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"{{${key}}}"]}]}}`;
/** An instant query's answer with a fixed value. */
export const promValue = (v: string) =>
  `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"${v}"]}]}}`;

export interface LabCase {
  id: string;
  rules: Rule[];
  state?: Record<string, string>;
  env?: Record<string, string>;
  /** Tools stubbed besides kubectl, helm, istioctl, kind and curl (multi-cluster: docker). */
  extraTools?: ExtraTool[];
  /** Calls a full run makes, in this order (among others). */
  order: [string, string[]][];
  /** Rules put first: the cluster still measures broken after the fix. */
  brokenAfterFix: Rule[];
  /** State keys the stubs must hold after reset (the cluster as before break), with or without the fix. */
  restored?: Record<string, string>;
  /** More assertions on the full run. */
  extra?: (r: StubRun) => void;
}

export function report(r: StubRun): string {
  return `exit ${r.status}\n${r.stdout}\n${r.stderr}\nunmatched:\n${r.unmatched}`;
}

export function describeLab(lab: LabCase): void {
  void describe(lab.id, () => {
    void it('the full run makes the expected calls in order and every check holds', () => {
      const r = runWithStubs(RUN, [lab.id], lab.rules, lab.state, lab.env, lab.extraTools);
      assert.equal(r.status, 0, report(r));
      assert.equal(r.unmatched, '');
      assert.match(r.stdout, new RegExp(`${lab.id}: every check held`));
      for (const p of ['break', 'observe', 'fix', 'verify', 'reset'])
        assert.match(r.stdout, new RegExp(`^${p} +ok`, 'm'));
      assert.equal(missingInOrder(r.calls, lab.order), undefined, report(r));
      for (const [k, v] of Object.entries(lab.restored ?? {}))
        assert.equal(r.state[k], v, `after reset: ${k}`);
      lab.extra?.(r);
    });
    void it('without the fix verify fails (exit 1) and reset still runs', () => {
      const r = runWithStubs(RUN, [lab.id, '--no-fix'], lab.rules, lab.state, lab.env, lab.extraTools);
      assert.equal(r.status, 1, report(r));
      assert.match(r.stdout, /^observe +ok/m);
      assert.match(r.stdout, /^verify +MISS/m);
      assert.match(r.stdout, /^reset +ok/m);
      assert.match(r.stdout, /verify failed without the fix, as expected/);
      for (const [k, v] of Object.entries(lab.restored ?? {}))
        assert.equal(r.state[k], v, `after reset: ${k}`);
    });
    void it('a broken measurement after the fix fails verify (exit 1)', () => {
      const r = runWithStubs(
        RUN,
        [lab.id],
        [CONTEXT, ...lab.brokenAfterFix, ...lab.rules],
        lab.state,
        lab.env,
        lab.extraTools,
      );
      assert.equal(r.status, 1, report(r));
      assert.match(r.stdout, /^fix +ok/m);
      assert.match(r.stdout, /^verify +MISS/m);
      assert.match(r.stdout, /^ {4}MISS /m);
    });
  });
}
