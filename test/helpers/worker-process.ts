import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigInput } from '../../src/config/config-schema.js';
import { trackChildProcess } from './child-processes.js';

/** Writes a config file and starts `vectorsync worker` on it as a separate OS process. */
export async function startWorkerProcess(
  config: ConfigInput,
): Promise<{ child: ChildProcess; output: () => string; exited: Promise<number | null> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vectorsync-worker-'));
  const path = join(dir, 'vectorsync.config.json');
  await writeFile(path, JSON.stringify(config));
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
  delete env.DATABASE_URL;
  const child = trackChildProcess(
    spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--config', path, 'worker'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}
