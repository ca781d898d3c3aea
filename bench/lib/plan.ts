/**
 * The query plan of the scheduler's "which pages are due?" query, on each backend. The SQL is
 * compiled by Kysely from the same builder chain as `listDuePages` in src/store/page-store.ts.
 */
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import type { Tables } from '../../src/store/schema.js';
import type { BenchDatabase } from './seed.js';

function dueQuery(db: Kysely<Tables>, now: number, limit: number) {
  return db
    .selectFrom('pages')
    .selectAll()
    .where((eb) => eb.or([eb('next_check_at', 'is', null), eb('next_check_at', '<=', now)]))
    .where((eb) => eb.or([eb('lease_owner', 'is', null), eb('lease_expires_at', '<=', now)]))
    .orderBy('next_check_at', (ob) => ob.asc().nullsFirst())
    .orderBy('page_id')
    .limit(limit);
}

export async function dueQueryPlan(bench: BenchDatabase, now: number): Promise<string> {
  if (bench.backend === 'sqlite') {
    const file = bench.databaseUrl.slice('sqlite:'.length);
    const raw = new BetterSqlite3(file, { readonly: true });
    const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: raw }) });
    try {
      const q = dueQuery(db, now, 500).compile();
      const rows = raw.prepare(`explain query plan ${q.sql}`).all(...q.parameters) as { detail: string }[];
      return rows.map((r) => r.detail).join('; ');
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
    const q = dueQuery(db, now, 500).compile();
    const { rows } = await pool.query<{ 'QUERY PLAN': string }>(
      `explain (analyze, costs off, timing off) ${q.sql}`,
      [...q.parameters],
    );
    return rows.map((r) => r['QUERY PLAN'].trim()).join('; ');
  } finally {
    await db.destroy();
  }
}
