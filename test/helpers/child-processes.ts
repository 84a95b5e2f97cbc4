import type { ChildProcess } from 'node:child_process';
import { after } from 'node:test';

/**
 * Every OS process a test starts (workers, CLI commands, servers) is tracked here, so none is
 * ever left behind, running or SIGSTOPped, when a test fails half-way or the test process exits:
 * at the end of the test file (a root-level `after` hook), on process exit and on SIGINT/SIGTERM,
 * each tracked child that has not exited gets SIGCONT (a stopped process cannot act on anything
 * else) and then SIGKILL.
 */
const children = new Set<ChildProcess>();

/**
 * The time a wait may take when it includes starting a child process (node, tsx compiling the
 * sources, connecting): on the 2-core machine with two CPU hogs and other suites running (load
 * average 30), a worker process printed nothing for 60 s. Only a broken test waits this long.
 */
export const CHILD_PROCESS_WAIT_MS = 180_000;

export function trackChildProcess<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGCONT then SIGKILL to every tracked child that has not exited; synchronous (usable on exit). */
export function killChildProcesses(): ChildProcess[] {
  const killed: ChildProcess[] = [];
  for (const child of children) {
    children.delete(child);
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue;
    try {
      process.kill(child.pid, 'SIGCONT');
      process.kill(child.pid, 'SIGKILL');
      killed.push(child);
    } catch {
      // Already gone between the check and the kill.
    }
  }
  return killed;
}

// Registered when a test file imports this module (at its top level, so the hook belongs to the
// file's root, not to whichever test spawns the first child). Only test files import it.
// At the end of the file its own hooks have run, so a child still alive was leaked: killed, reaped,
// and reported as a failure of the file, like a leaked connection.
after(async () => {
  const killed = killChildProcesses();
  await Promise.all(
    killed.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) resolve(undefined);
          else child.once('exit', resolve);
        }),
    ),
  );
  if (killed.length > 0) {
    throw new Error(
      `the tests left ${killed.length} child process(es) running (killed): ${killed.map((child) => `${child.pid} ${child.spawnargs.slice(1).join(' ')}`).join('; ')}`,
    );
  }
});
process.once('exit', () => killChildProcesses());
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killChildProcesses();
    // Keep the signal's meaning: with no other listener, die of it as we would have.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}
