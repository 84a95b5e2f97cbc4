import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Under tsx the document worker is TypeScript (with an entry that registers tsx in the
 * thread); compiled, it is dist/runtime/document-worker.js and nothing of tsx may be needed.
 */
describe('document worker threads in the compiled package (plain node, no tsx)', () => {
  let outDir: string;

  before(async () => {
    // Inside the repository, so that the compiled files resolve node_modules as dist/ would.
    await mkdir(join(root, '.tmp'), { recursive: true });
    outDir = await mkdtemp(join(root, '.tmp', 'compiled-'));
    await run(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir],
      {
        cwd: root,
      },
    );
  });

  after(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  it('builds and embeds a document in a worker thread', async () => {
    const { stdout } = await run(
      process.execPath,
      [join(root, 'test/helpers/compiled-pool-check.mjs'), outDir],
      {
        cwd: root,
        // Not the test runner's --import tsx: what an installed package gets.
        env: { ...process.env, NODE_OPTIONS: '' },
      },
    );
    const result = JSON.parse(stdout) as {
      error?: string;
      termCount?: number;
      dimensions?: number;
      execArgv: string[];
      messages: string[];
    };
    assert.equal(result.error, undefined);
    assert.deepEqual(result.execArgv, []);
    assert.ok(result.messages.includes('document worker threads started'), result.messages.join('; '));
    // running, shoe, and the 600-letter word as 255 + 255 + 90.
    assert.equal(result.termCount, 5);
    assert.equal(result.dimensions, 16);
  });
});
