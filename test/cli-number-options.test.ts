import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { numberArgument } from '../src/cli/number-argument.js';
import { CHILD_PROCESS_WAIT_MS } from './helpers/child-processes.js';
import { runCli } from './helpers/cli-process.js';

describe('numeric CLI options', () => {
  it('parse numbers within their bounds and refuse the rest, naming the value', () => {
    const fraction = numberArgument({ min: 0, max: 1 });
    assert.equal(fraction('0.02'), 0.02);
    assert.equal(fraction('1'), 1);
    for (const bad of ['abc', '', ' ', 'NaN', 'Infinity', '1.5', '-0.1', '0x']) {
      assert.throws(
        () => fraction(bad),
        (error: unknown) =>
          error instanceof InvalidArgumentError &&
          error.message === `"${bad}" is not a number, at least 0, at most 1.`,
        bad,
      );
    }
    const count = numberArgument({ integer: true, min: 1 });
    assert.equal(count('500'), 500);
    assert.throws(() => count('2.5'), /"2.5" is not a whole number, at least 1\./);
    assert.throws(() => count('0'), /"0" is not a whole number, at least 1\./);
    const share = numberArgument({ above: 0, max: 1 });
    assert.equal(share('0.00001'), 0.00001);
    assert.throws(() => share('0'), /"0" is not a number, above 0, at most 1\./);
  });

  it('a gate given a value that is not a number stops the command before it starts', {
    timeout: CHILD_PROCESS_WAIT_MS,
  }, async () => {
    // NaN compares false with everything: unchecked, `--max-ndcg-drop abc` switched the nDCG gate off.
    const result = await runCli({}, ['reembed', '-c', 'products', '--max-ndcg-drop', 'abc']);
    assert.notEqual(result.code, 0);
    assert.match(
      result.output,
      /option '--max-ndcg-drop <x>' argument 'abc' is invalid\. "abc" is not a number, at least 0, at most 1\./,
    );
    const migrate = await runCli({}, [
      'migrate-store',
      '-c',
      'products',
      '--to',
      'lance',
      '--verify-fraction',
      '0',
    ]);
    assert.notEqual(migrate.code, 0);
    assert.match(
      migrate.output,
      /option '--verify-fraction <f>' argument '0' is invalid\. "0" is not a number, above 0, at most 1\./,
    );
  });
});
