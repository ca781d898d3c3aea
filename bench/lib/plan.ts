/**
 * The query plan of the scheduler's "which pages are due?" query, on each backend. The SQL is
 * compiled by Kysely from the very builders `listDuePages` runs (`dueQueries`, src/store/page-store.ts).
 */
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { dueQueries } from '../../src/store/page-store.js';
import type { Tables } from '../../src/store/schema.js';
import type { BenchDatabase } from './seed.js';

export async function dueQueryPlan(bench: BenchDatabase, now: number): Promise<string> {
  if (bench.backend === 'sqlite') {
    const file = bench.databaseUrl.slice('sqlite:'.length);
    const raw = new BetterSqlite3(file, { readonly: true });
    const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: raw }) });
    try {
      return dueQueries(db, now)
        .map((query) => {
          const q = query.limit(500).compile();
          const rows = raw.prepare(`explain query plan ${q.sql}`).all(...q.parameters) as {
            detail: string;
          }[];
          return rows.map((r) => r.detail).join(', ');
        })
        .join(' | ');
    } finally {
      await db.destroy();
    }
  }
  const pool = new pg.Pool({
    connectionString: bench.databaseUrl,
    options: `-c search_path=${bench.schema ?? 'public'}`,
    max: 1,
  });
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  try {
    await sql`analyze pages`.execute(db);
    const plans: string[] = [];
    for (const query of dueQueries(db, now)) {
      const q = query.limit(500).compile();
      const { rows } = await pool.query<{ 'QUERY PLAN': string }>(
        `explain (analyze, costs off, timing off) ${q.sql}`,
        [...q.parameters],
      );
      plans.push(rows.map((r) => r['QUERY PLAN'].trim()).join('; '));
    }
    return plans.join(' | ');
  } finally {
    await db.destroy();
  }
}
