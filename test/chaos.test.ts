import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ChaosEnvironment, cellDrift, MODES, PLACEMENTS, runCell, SCALES } from './chaos/chaos-cell.js';
import {
  failureDetails,
  resultTable,
  startChaosEnvironment,
  stopChaosEnvironment,
} from './chaos/chaos-run.js';

/**
 * The fault-injection suite at reduced scale, every sync mode × store placement
 * (docs/testing.md#fault-injection; `npm run chaos` is the full scale). Seeds are fixed here
 * so that CI is repeatable in its decisions (CHAOS_SEED shifts them); a failure prints the
 * command that replays it.
 */
describe('fault injection (reduced): the index equals the source after every fault', () => {
  let env: ChaosEnvironment;
  const results: Parameters<typeof resultTable>[0][number][] = [];
  const base = Number(process.env.CHAOS_SEED ?? 11_000);

  before(async () => {
    env = await startChaosEnvironment();
  });
  after(async () => {
    if (results.length > 0) process.stdout.write(`\n${resultTable(results)}\n`);
    await stopChaosEnvironment(env);
  });

  let index = 0;
  for (const mode of MODES) {
    for (const placement of PLACEMENTS) {
      const seed = base + index++;
      it(`${mode} / ${placement} (seed ${seed})`, { timeout: 300_000 }, async () => {
        const result = await runCell(env, { mode, placement }, seed, SCALES.reduced);
        results.push(result);
        assert.equal(cellDrift(result), 0, failureDetails(result));
      });
    }
  }
});
