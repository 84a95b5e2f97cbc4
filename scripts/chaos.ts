/**
 * `npm run chaos`: the fault-injection suite at full scale (docs/testing.md#fault-injection).
 *
 *   npm run chaos                                  every mode × store placement, one random seed
 *   npm run chaos -- --runs 5                      five random seeds
 *   npm run chaos -- --seed 1234 --mode cdc --placement lancedb --scale reduced   replay one cell
 *
 * Prints a table per run and the timeline of every cell that drifted; exits 1 on any drift.
 */
import { appendFile } from 'node:fs/promises';
import {
  type CellResult,
  type ChaosCell,
  cellDrift,
  MODES,
  PLACEMENTS,
  runCell,
  SCALES,
} from '../test/chaos/chaos-cell.js';
import {
  failureDetails,
  resultTable,
  startChaosEnvironment,
  stopChaosEnvironment,
} from '../test/chaos/chaos-run.js';

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

async function main(): Promise<number> {
  const scale = SCALES[(option('scale') ?? 'full') as 'full' | 'reduced'];
  if (!scale) throw new Error(`--scale must be full or reduced`);
  const seeds = option('seed')
    ? [Number(option('seed'))]
    : Array.from({ length: Number(option('runs') ?? 1) }, () => Math.floor(Math.random() * 2 ** 31));
  const modes = option('mode') ? [option('mode')] : [...MODES];
  const placements = option('placement') ? [option('placement')] : [...PLACEMENTS];
  const cells: ChaosCell[] = modes.flatMap((mode) =>
    placements.map((placement) => ({ mode, placement }) as ChaosCell),
  );
  for (const cell of cells) {
    if (!MODES.includes(cell.mode) || !PLACEMENTS.includes(cell.placement))
      throw new Error(
        `unknown cell ${cell.mode}/${cell.placement}: modes ${MODES.join(', ')}; placements ${PLACEMENTS.join(', ')}`,
      );
  }
  const env = await startChaosEnvironment();
  const results: CellResult[] = [];
  try {
    for (const seed of seeds) {
      const run: CellResult[] = [];
      for (const cell of cells) {
        process.stderr.write(`[chaos] ${cell.mode}/${cell.placement} seed ${seed} (${scale.name})\n`);
        const result = await runCell(env, cell, seed, scale, (line) => process.stderr.write(`  ${line}\n`));
        run.push(result);
        results.push(result);
        process.stderr.write(`[chaos] drift ${cellDrift(result)}\n`);
      }
      const table = resultTable(run);
      process.stdout.write(`\n${table}\n\n`);
      for (const result of run) {
        const details = failureDetails(result);
        if (details) process.stdout.write(`${details}\n\n`);
      }
      const out = option('out');
      if (out)
        await appendFile(out, `\n${new Date().toISOString()} seed ${seed} (${scale.name})\n\n${table}\n`);
    }
  } finally {
    await stopChaosEnvironment(env);
  }
  const drifted = results.filter((result) => cellDrift(result) > 0);
  process.stdout.write(
    `${results.length} cell runs, ${drifted.length} with drift (seeds ${seeds.join(', ')})\n`,
  );
  return drifted.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error('[chaos] failed:', error);
    process.exit(2);
  },
);
