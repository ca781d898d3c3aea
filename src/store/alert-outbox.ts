/**
 * The alert outbox: alerts are queued in the same database as the page changes that caused them,
 * then delivered (and retried) per channel target by the dispatcher. `alert_keys` remembers every
 * dedupe key ever used, so an alert fires once per page, event and threshold even after delivery.
 */
import type { AlertChannel, AlertDelivery, AlertStatus, Store } from './types.js';
import type { Database } from './database.js';
import { parseJson } from './page-rows.js';
import type { AlertDeliveryRow } from './schema.js';

type AlertMethods = Pick<
  Store,
  | 'enqueueAlert'
  | 'dueAlertDeliveries'
  | 'claimDelivery'
  | 'markDelivered'
  | 'markDeliveryFailed'
  | 'alertCounts'
>;

/** Keeps a failing endpoint's error page from bloating the row. */
const MAX_ERROR_LENGTH = 1000;

export function alertOutbox(database: Database): AlertMethods {
  const { db } = database;
  return {
    async enqueueAlert(alert, targets) {
      return database.writeTransaction(async (trx) => {
        const claimed = await trx
          .insertInto('alert_keys')
          .values({ dedupe_key: alert.dedupeKey, page_id: alert.pageId, created_at: alert.createdAt })
          .onConflict((oc) => oc.column('dedupe_key').doNothing())
          .returning('dedupe_key')
          .execute();
        if (claimed.length === 0) return false;
        if (targets.length > 0) {
          await trx
            .insertInto('alert_deliveries')
            .values(
              targets.map((t) => ({
                page_id: alert.pageId,
                kind: alert.kind,
                dedupe_key: alert.dedupeKey,
                channel: t.channel,
                target: t.target,
                payload: JSON.stringify(alert.payload),
                status: 'pending',
                attempts: 0,
                next_attempt_at: alert.createdAt,
                last_error: null,
                created_at: alert.createdAt,
                delivered_at: null,
              })),
            )
            // The same target listed twice gets one delivery.
            .onConflict((oc) => oc.columns(['dedupe_key', 'channel', 'target']).doNothing())
            .execute();
        }
        return true;
      });
    },

    async dueAlertDeliveries(now, limit) {
      const rows = await db
        .selectFrom('alert_deliveries')
        .selectAll()
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at')
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map(rowToDelivery);
    },

    async claimDelivery(id, seenNextAttemptAt, until) {
      // Conditional UPDATE: only one instance moves the row from the time it saw, so only one sends it.
      const r = await db
        .updateTable('alert_deliveries')
        .set({ next_attempt_at: until })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .where('next_attempt_at', '=', seenNextAttemptAt)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },

    async markDelivered(id, at) {
      await db
        .updateTable('alert_deliveries')
        .set((eb) => ({ status: 'delivered', delivered_at: at, attempts: eb('attempts', '+', 1) }))
        .where('id', '=', id)
        .execute();
    },

    async markDeliveryFailed(id, error, nextAttemptAt, giveUp) {
      await db
        .updateTable('alert_deliveries')
        .set((eb) => ({
          status: giveUp ? 'failed' : 'pending',
          attempts: eb('attempts', '+', 1),
          last_error: error.slice(0, MAX_ERROR_LENGTH),
          next_attempt_at: nextAttemptAt,
        }))
        .where('id', '=', id)
        .execute();
    },

    async alertCounts() {
      const rows = await db
        .selectFrom('alert_deliveries')
        .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
        .groupBy('status')
        .execute();
      const counts: Record<AlertStatus, number> = { pending: 0, delivered: 0, failed: 0 };
      for (const row of rows) counts[row.status as AlertStatus] = row.n;
      return counts;
    },
  };
}

function rowToDelivery(row: AlertDeliveryRow): AlertDelivery {
  return {
    id: row.id,
    pageId: row.page_id,
    kind: row.kind,
    dedupeKey: row.dedupe_key,
    channel: row.channel as AlertChannel,
    target: row.target,
    payload: parseJson(row.payload) as Record<string, unknown>,
    status: row.status as AlertStatus,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
    createdAt: row.created_at,
    deliveredAt: row.delivered_at,
  };
}
