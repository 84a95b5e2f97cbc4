import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './postgres-cluster.js';

/** Servers not destroyed yet: killed and their store removed when the process exits, however a test ended. */
const live = new Set<NatsServer>();
process.once('exit', () => {
  for (const server of live) server.destroyOnExit();
});

/**
 * A throwaway nats-server with JetStream, storing in a temp directory on a free port. It can be
 * stopped and started again on the same port and store (bus outage tests).
 */
export class NatsServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    /** HTTP monitoring endpoint (`/connz`, `/jsz`), to see what clients hold open. */
    readonly monitorPort: number,
    readonly storeDir: string,
    private readonly binary: string,
  ) {}

  static async start(): Promise<NatsServer> {
    const binary = process.env.VECTORSYNC_NATS_SERVER ?? 'nats-server';
    try {
      execFileSync(binary, ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error(`${binary} not found; run scripts/provision.sh (Debian package nats-server)`);
    }
    const storeDir = await mkdtemp(join(tmpdir(), 'vectorsync-nats-'));
    const server = new NatsServer(await freePort(), await freePort(), storeDir, binary);
    live.add(server);
    await server.startServer();
    return server;
  }

  url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async startServer(): Promise<void> {
    const child = spawn(
      this.binary,
      [
        '-js',
        '-sd',
        this.storeDir,
        '-a',
        '127.0.0.1',
        '-p',
        String(this.port),
        '-m',
        String(this.monitorPort),
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    });
    this.process = child;
    const deadline = Date.now() + 15_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`nats-server did not start on port ${this.port}: ${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Names of the client connections the server holds open now. */
  async clientNames(): Promise<string[]> {
    const response = await fetch(`http://127.0.0.1:${this.monitorPort}/connz?limit=1024`);
    const body = (await response.json()) as { connections?: Array<{ name?: string }> };
    return (body.connections ?? []).map((connection) => connection.name ?? '');
  }

  async stopServer(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  async destroy(): Promise<void> {
    live.delete(this);
    await this.stopServer();
    await rm(this.storeDir, { recursive: true, force: true });
  }

  /** Synchronous kill and removal, for a process 'exit' handler. */
  destroyOnExit(): void {
    live.delete(this);
    const child = this.process;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
