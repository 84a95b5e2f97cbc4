import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trackChildProcess } from './child-processes.js';

export interface CliProcess {
  child: ChildProcess;
  output: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
}

/** Runs `vectorsync <args…>` as a separate OS process on a config file (a second operator's terminal). */
export async function startCli(
  config: unknown,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'vectorsync-cli-'));
  const path = join(dir, 'vectorsync.config.json');
  await writeFile(path, JSON.stringify(config));
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', ...env };
  delete childEnv.DATABASE_URL;
  const child = trackChildProcess(
    spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--config', path, ...args], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let output = '';
  let stdout = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, stdout: () => stdout, exited };
}

/** Runs a CLI command to completion. */
export async function runCli(
  config: unknown,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; output: string; stdout: string }> {
  const cli = await startCli(config, args, env);
  const code = await cli.exited;
  return { code, output: cli.output(), stdout: cli.stdout() };
}
