/**
 * Hooks that tests load into the document worker threads (DocumentPoolOptions.workerHooks):
 * they make one chosen row's build block, never finish or exhaust its thread's memory, so a
 * test can watch the rest of the service while that happens. Synchronised on shared memory,
 * never on time.
 */
import { fileURLToPath } from 'node:url';

export interface DocumentHookData {
  /** Int32 cells, see HookCell. */
  control: SharedArrayBuffer;
  /** Rows whose build waits until the test releases them. */
  hold?: string[];
  /** Rows whose build never finishes (only the budget ends it). */
  hang?: string[];
  /** Rows whose build allocates until its thread reaches its memory limit. */
  exhaustMemory?: string[];
}

export const HookCell = {
  /** How many held builds have been reached (incremented by the worker thread). */
  entered: 0,
  /** Set to 1 by the test to let held builds go on. */
  released: 1,
  /** Never set: what a hanging build waits on. */
  never: 2,
} as const;

export const documentWorkerHooksModule = fileURLToPath(
  new URL('./document-worker-hooks.ts', import.meta.url),
);

export function hookControl(): { buffer: SharedArrayBuffer; cells: Int32Array } {
  const buffer = new SharedArrayBuffer(4 * 4);
  return { buffer, cells: new Int32Array(buffer) };
}

export function beforeBuild(row: { id: string }, data: DocumentHookData): void {
  const cells = new Int32Array(data.control);
  if (data.hold?.includes(row.id)) {
    Atomics.add(cells, HookCell.entered, 1);
    Atomics.notify(cells, HookCell.entered);
    // Blocks this worker thread (and only it) until the test releases it.
    Atomics.wait(cells, HookCell.released, 0);
  }
  if (data.hang?.includes(row.id)) Atomics.wait(cells, HookCell.never, 0);
  if (data.exhaustMemory?.includes(row.id)) {
    const hoard: number[][] = [];
    for (;;) hoard.push(new Array<number>(1 << 20).fill(hoard.length));
  }
}
