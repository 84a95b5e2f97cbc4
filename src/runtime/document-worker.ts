import { pathToFileURL } from 'node:url';
import { workerData } from 'piscina';
import type { Embedder } from '../embedders/embedder.js';
import {
  type DocumentTask,
  DocumentWork,
  type DocumentWorkerHooks,
  serialiseError,
} from './document-tasks.js';

/**
 * The entry point of a document worker thread (run by piscina; see document-pool.ts). Each
 * task says when its budgeted part starts by setting its `started` flag: loading an embedder's
 * files comes before, the rows after.
 */
const options = (workerData ?? {}) as { hooks?: { module: string; data?: unknown } };
const hooks = options.hooks
  ? {
      module: (await import(
        options.hooks.module.startsWith('file:')
          ? options.hooks.module
          : pathToFileURL(options.hooks.module).href
      )) as DocumentWorkerHooks,
      data: options.hooks.data,
    }
  : undefined;
const work = new DocumentWork(hooks);

export default async function runDocumentTask(task: DocumentTask): Promise<unknown> {
  if (task.kind === 'ping') {
    markStarted(task.started);
    return 'pong';
  }
  let embedder: Embedder | undefined;
  try {
    embedder = task.embedder ? await work.prepareEmbedder(task.embedder) : undefined;
  } catch (error) {
    // The failure the embedder would report on the calling thread too (e.g. a missing package).
    markStarted(task.started);
    return task.rows.map(() => ({ ok: false, error: serialiseError(error) }));
  }
  markStarted(task.started);
  return work.build(task.spec, task.rows, embedder);
}

function markStarted(flag: SharedArrayBuffer): void {
  const cell = new Int32Array(flag);
  Atomics.store(cell, 0, 1);
  Atomics.notify(cell, 0);
}
