import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { describeConfigIssue } from './config-issues.js';
import { type ConfigInput, configSchema, type VectorsyncConfig } from './config-schema.js';
import { didYouMean } from './did-you-mean.js';

/** Where resolveConfig() reads the config from, and the environment whose overrides it applies. */
export interface ResolveConfigOptions {
  /** A config object (library use); otherwise it is read from `path`. */
  config?: ConfigInput;
  /** Default: $VECTORSYNC_CONFIG, else ./vectorsync.config.json. */
  path?: string;
  env?: NodeJS.ProcessEnv;
}

export type ResolvedConfig = Readonly<VectorsyncConfig> & { readonly configPath?: string };

/**
 * Reads the config once, applies environment overrides and defaults, validates it and
 * returns a deeply frozen object. Every error names the offending key.
 */
export async function resolveConfig(options: ResolveConfigOptions = {}): Promise<ResolvedConfig> {
  const env = options.env ?? process.env;
  let raw: unknown = options.config;
  let configPath: string | undefined;
  if (raw === undefined) {
    configPath = resolve(options.path ?? env.VECTORSYNC_CONFIG ?? 'vectorsync.config.json');
    raw = await readConfigFile(configPath);
  }
  const config = parseConfig(raw, configPath);
  if (env.DATABASE_URL) config.databaseUrl = env.DATABASE_URL;
  // The vectors of every pgvector store go to another Postgres (docs/stores.md#separate-database).
  if (env.VECTOR_DATABASE_URL) {
    for (const store of Object.values(config.stores))
      if (store.provider === 'pgvector') store.databaseUrl = env.VECTOR_DATABASE_URL;
  }
  if (env.PORT) config.server.port = parsePort(env.PORT);
  if (env.HOST) config.server.host = env.HOST;
  const resolved = configPath ? { ...config, configPath } : config;
  return deepFreeze(resolved);
}

export function parseConfig(raw: unknown, source = 'config'): VectorsyncConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) => describeConfigIssue(issue, raw, configSchema));
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `invalid vectorsync config (${source}):\n  - ${problems.join('\n  - ')}`,
      {
        details: { problems },
      },
    );
  }
  const config = parsed.data;
  const problems: string[] = [];
  for (const [collection, definition] of Object.entries(config.collections)) {
    if (!(definition.store in config.stores)) {
      problems.push(
        `collections.${collection}.store: unknown store "${definition.store}" (declared: ${Object.keys(config.stores).join(', ') || 'none'})${didYouMean(definition.store, Object.keys(config.stores))}`,
      );
    }
    if (!(definition.embedder in config.embedders)) {
      problems.push(
        `collections.${collection}.embedder: unknown embedder "${definition.embedder}" (declared: ${Object.keys(config.embedders).join(', ') || 'none'})${didYouMean(definition.embedder, Object.keys(config.embedders))}`,
      );
    }
  }
  for (const [collection, definition] of Object.entries(config.collections)) {
    if (definition.sync.bus && !config.bus) {
      problems.push(
        `collections.${collection}.sync.bus: needs a top-level "bus" (e.g. { "provider": "nats", "url": "nats://…" })`,
      );
    }
    if (definition.sync.bus && definition.sync.mode === 'dual-write') {
      problems.push(
        `collections.${collection}.sync.bus: dual-write applies in the request; the bus works with outbox or cdc`,
      );
    }
  }
  for (const collection of config.reconcile.schedule.collections ?? []) {
    if (!(collection in config.collections))
      problems.push(
        `reconcile.schedule.collections: unknown collection "${collection}" (declared: ${Object.keys(config.collections).join(', ') || 'none'})${didYouMean(collection, Object.keys(config.collections))}`,
      );
  }
  if (config.sync.backoffMaxMs < config.sync.backoffBaseMs) {
    problems.push('sync.backoffMaxMs: must be at least sync.backoffBaseMs');
  }
  if (config.sync.workerTimeoutMs <= config.sync.heartbeatMs) {
    problems.push('sync.workerTimeoutMs: must be longer than sync.heartbeatMs');
  }
  if (problems.length > 0) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `invalid vectorsync config (${source}):\n  - ${problems.join('\n  - ')}`,
      {
        details: { problems },
      },
    );
  }
  return config;
}

async function readConfigFile(path: string): Promise<unknown> {
  if (!existsSync(path)) {
    throw new VectorsyncError(
      ErrorCode.ConfigNotFound,
      `config file not found: ${path} (set VECTORSYNC_CONFIG or pass --config)`,
      {
        details: { path },
      },
    );
  }
  const extension = extname(path);
  if (extension === '.json') {
    const text = await readFile(path, 'utf8');
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new VectorsyncError(
        ErrorCode.ConfigInvalid,
        `config file ${path} is not valid JSON: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  if (['.js', '.mjs', '.ts', '.mts'].includes(extension)) {
    const module = (await import(pathToFileURL(path).href)) as { default?: unknown };
    return module.default;
  }
  throw new VectorsyncError(
    ErrorCode.ConfigInvalid,
    `config file ${path}: unsupported extension ${extension} (use .json, .js or .ts)`,
  );
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new VectorsyncError(ErrorCode.ConfigInvalid, `PORT: "${value}" is not a TCP port`);
  }
  return port;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
