import { execFile, execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PostgresClusterOptions {
  binDir?: string;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
  /** Keep fsync on (benchmarks that want durable commits). */
  durable?: boolean;
}

/**
 * Clusters not destroyed yet: stopped (immediate mode) and removed when the process exits, however
 * a test or the runner ended, so no postmaster outlives its test process.
 */
const live = new Set<PostgresCluster>();
process.once('exit', () => {
  for (const cluster of live) cluster.destroyOnExit();
});

/**
 * A throwaway PostgreSQL cluster in a temp directory on a free port, with wal_level=logical.
 * When running as root, the server runs as the `postgres` user (Postgres refuses root).
 */
export class PostgresCluster {
  private constructor(
    readonly binDir: string,
    readonly dataDir: string,
    readonly port: number,
    private readonly runAs: { uid: number; gid: number } | undefined,
    private readonly options: string,
  ) {}

  static async start(options: PostgresClusterOptions = {}): Promise<PostgresCluster> {
    const binDir = options.binDir ?? process.env.VECTORSYNC_PG_BINDIR ?? '/usr/lib/postgresql/15/bin';
    if (!existsSync(join(binDir, 'postgres'))) {
      throw new Error(
        `PostgreSQL binaries not found in ${binDir}; run scripts/provision.sh or set VECTORSYNC_PG_BINDIR`,
      );
    }
    const root = await mkdtemp(join(tmpdir(), 'vectorsync-pg-'));
    const runAs = process.getuid?.() === 0 ? postgresUser() : undefined;
    if (runAs) {
      await chown(root, runAs.uid, runAs.gid);
      await chmod(root, 0o700);
    }
    const dataDir = join(root, 'data');
    const port = await freePort();
    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: root,
      wal_level: 'logical',
      max_replication_slots: 32,
      max_wal_senders: 32,
      max_connections: 300,
      shared_buffers: '256MB',
      maintenance_work_mem: '256MB',
      ...(options.durable ? {} : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' }),
      ...options.settings,
    };
    const serverOptions = [`-p ${port}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(
      ' ',
    );
    const cluster = new PostgresCluster(binDir, dataDir, port, runAs, serverOptions);
    live.add(cluster);
    await cluster.exec('initdb', [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
    ]);
    await cluster.startServer();
    return cluster;
  }

  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async startServer(): Promise<void> {
    await this.exec('pg_ctl', [
      'start',
      '-w',
      '-t',
      '60',
      '-D',
      this.dataDir,
      '-l',
      `${this.dataDir}/../server.log`,
      '-o',
      this.options,
    ]);
  }

  /** Fast shutdown: disconnects every client, as a real restart or failover does. */
  async stopServer(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.exec('pg_ctl', ['stop', '-w', '-t', '60', '-m', mode, '-D', this.dataDir]);
  }

  /** Synchronous immediate stop and removal, for a process 'exit' handler; a server already down is fine. */
  destroyOnExit(): void {
    live.delete(this);
    try {
      execFileSync(
        join(this.binDir, 'pg_ctl'),
        ['stop', '-w', '-t', '30', '-m', 'immediate', '-D', this.dataDir],
        {
          stdio: 'ignore',
          cwd: '/tmp',
          ...(this.runAs
            ? { uid: this.runAs.uid, gid: this.runAs.gid, env: { ...process.env, HOME: '/tmp' } }
            : {}),
        },
      );
    } catch {
      // Not running any more.
    }
    rmSync(join(this.dataDir, '..'), { recursive: true, force: true });
  }

  async restart(): Promise<void> {
    await this.stopServer();
    await this.startServer();
  }

  async serverLog(): Promise<string> {
    return readFile(`${this.dataDir}/../server.log`, 'utf8').catch(() => '');
  }

  async destroy(): Promise<void> {
    live.delete(this);
    await this.stopServer('immediate').catch(() => undefined);
    await rm(join(this.dataDir, '..'), { recursive: true, force: true });
  }

  private async exec(binary: string, args: string[]): Promise<void> {
    const path = join(this.binDir, binary);
    try {
      if (this.runAs) {
        await run(path, args, {
          uid: this.runAs.uid,
          gid: this.runAs.gid,
          cwd: '/tmp',
          env: { ...process.env, HOME: '/tmp' },
        });
      } else {
        await run(path, args);
      }
    } catch (error) {
      const log = await this.serverLog();
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(`${binary} ${args[0]} failed: ${stderr}\n${log.slice(-2000)}`);
    }
  }
}

function postgresUser(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    throw new Error(
      'running as root needs a `postgres` system user to run the test cluster (apt-get install postgresql-15 creates it)',
    );
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
