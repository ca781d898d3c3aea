/**
 * The due-pages queries order by (next_check_at, page_id). With an index on next_check_at alone,
 * the database sorted every never-checked page on each listing — all of them, 500 at a time, when
 * 100,000 Pages are added at once (docs/BENCHMARKS.md, growth). With page_id in the index, both
 * queries read the index in order and stop at the limit.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('pages_due').on('pages').columns(['next_check_at', 'page_id']).execute();
  await db.schema.dropIndex('pages_next_check_at').execute();
}
