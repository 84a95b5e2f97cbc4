import type { SqlExecutor } from '../../src/db/database.js';
import { generateCatalog } from '../../src/demo/catalog-generator.js';

export interface WriterStats {
  inserts: number;
  updates: number;
  deletes: number;
  errors: number;
}

/**
 * Keeps writing to the products table with plain SQL until stopped: inserts, updates (name and
 * tenant) and deletes in a seeded random mix. Errors (a restarting server) are counted and the
 * writer carries on, as an application would.
 */
export function startContinuousWriter(
  db: SqlExecutor,
  options: { seed?: number; pauseMs?: number; prefix?: string } = {},
): { stop(): Promise<WriterStats>; stats: WriterStats } {
  const stats: WriterStats = { inserts: 0, updates: 0, deletes: 0, errors: 0 };
  let random = options.seed ?? 42;
  const next = () => {
    random = (random * 1103515245 + 12345) % 2147483648;
    return random / 2147483648;
  };
  const catalog = generateCatalog(100_000, options.seed ?? 42);
  const prefix = options.prefix ?? 'w';
  const live: string[] = [];
  let serial = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const roll = next();
      try {
        if (roll < 0.5 || live.length < 10) {
          const item = catalog.next().value!;
          const id = `${prefix}-${serial++}`;
          await db.query(
            `INSERT INTO products (article_id, tenant_id, name, description, product_type, color, department, price)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
            [
              id,
              next() < 0.5 ? 'acme' : 'globex',
              item.name,
              item.description,
              item.product_type,
              item.color,
              item.department,
              item.price,
            ],
          );
          live.push(id);
          stats.inserts++;
        } else if (roll < 0.85) {
          const id = live[Math.floor(next() * live.length)]!;
          await db.query(
            `UPDATE products SET name = name || '+', tenant_id = CASE WHEN $2 THEN tenant_id ELSE 'initech' END WHERE article_id = $1`,
            [id, next() < 0.9],
          );
          stats.updates++;
        } else {
          const index = Math.floor(next() * live.length);
          const [id] = live.splice(index, 1);
          await db.query('DELETE FROM products WHERE article_id = $1', [id]);
          stats.deletes++;
        }
      } catch {
        stats.errors++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    }
  })();
  return {
    stats,
    async stop() {
      running = false;
      await loop;
      return stats;
    },
  };
}
