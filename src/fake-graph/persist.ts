/**
 * The emulator's world kept in a file across restarts (`fake-graph --state FILE`), so a demo's app,
 * admin, Page and tokens survive stopping the emulator — and so do the tokens the keeper stored.
 *
 * What is kept: every data field of the model (`FakeGraphState`: apps, users, Pages and roles,
 * system users, tokens, invalidation events, Login codes, switches), found by walking the object,
 * so a field added to the model later is kept without a change here. What is not: the clock (the
 * file stores instants; the emulator restarts on the system clock), faults, latency and the call
 * record (those belong to one run of a test, not to the world).
 *
 * Writes are atomic (a temporary file, then rename) and coalesced: at most one write per
 * `SAVE_DELAY_MS` after a change, and one synchronous write on close, so a kill loses at most the
 * last fraction of a second.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FakeGraphState } from './state.js';

export const STATE_FILE_FORMAT = 'fake-graph-state/1';
const SAVE_DELAY_MS = 50;
/** Fields of the model that are not world data. */
const SKIPPED = new Set(['clock', 'rules', 'isFacebookApp']);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Maps and Sets as tagged arrays; everything else as JSON already is. */
function encode(v: unknown): Json {
  if (v instanceof Map) return { $map: [...v.entries()].map(([k, x]) => [encode(k), encode(x)]) };
  if (v instanceof Set) return { $set: [...v].map(encode) };
  if (Array.isArray(v)) return v.map(encode);
  if (v === undefined) return null;
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, encode(x)]),
    );
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  return v as Json;
}

function decode(v: Json): unknown {
  if (Array.isArray(v)) return v.map(decode);
  if (v !== null && typeof v === 'object') {
    const map = v.$map;
    if (Array.isArray(map)) {
      return new Map(
        map.map((e) => (Array.isArray(e) ? [decode(e[0] ?? null), decode(e[1] ?? null)] : [e, e])),
      );
    }
    const set = v.$set;
    if (Array.isArray(set)) return new Set(set.map(decode));
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
  }
  return v;
}

interface StateFile {
  format: typeof STATE_FILE_FORMAT;
  saved_at: string;
  /** What the CLI printed when it seeded the world (ids, tokens), printed again on a restart. */
  meta: Json;
  state: Record<string, Json>;
}

export interface StatePersistence {
  readonly file: string;
  /** True when the world was read from the file (the CLI then does not seed a new one). */
  readonly restored: boolean;
  meta: unknown;
  /** Something may have changed: save soon. */
  changed(): void;
  /** Save now (synchronously). */
  flush(): void;
}

function fields(state: FakeGraphState): Record<string, unknown> {
  // The model's private fields are data too (invalidation events, Login codes, the issue counter).
  return state as unknown as Record<string, unknown>;
}

/** The data fields of a model object, encoded (not its clock, rules or functions). */
function snapshotOf(target: object): Record<string, Json> {
  const snapshot: Record<string, Json> = {};
  for (const [key, value] of Object.entries(target)) {
    if (!SKIPPED.has(key) && typeof value !== 'function') snapshot[key] = encode(value);
  }
  return snapshot;
}

/** Fill a model object's fields from their saved form, keeping its Maps, Sets and arrays. */
function restoreInto(target: Record<string, unknown>, saved: Record<string, Json>): void {
  for (const [key, raw] of Object.entries(saved)) {
    if (SKIPPED.has(key) || !(key in target)) continue;
    const current = target[key];
    const value = decode(raw);
    if (current instanceof Map && value instanceof Map) {
      current.clear();
      for (const [k, x] of value) current.set(k, x);
    } else if (current instanceof Set && value instanceof Set) {
      current.clear();
      for (const x of value) current.add(x);
    } else if (Array.isArray(current) && Array.isArray(value)) {
      current.splice(0, current.length, ...(value as unknown[]));
    } else {
      target[key] = value;
    }
  }
}

/**
 * Fill `state` (and the `more` models, e.g. the Instagram and Threads worlds, each under its key)
 * from the file when it exists, and save it there from now on.
 */
export function persistState(
  state: FakeGraphState,
  file: string,
  more: Record<string, object> = {},
): StatePersistence {
  let restored = false;
  let meta: unknown = null;
  let text: string | null = null;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text !== null) {
    let parsed: Partial<StateFile>;
    try {
      parsed = JSON.parse(text) as Partial<StateFile>;
    } catch {
      throw new Error(`${file} is not a fake-graph state file (not JSON)`);
    }
    if (parsed.format !== STATE_FILE_FORMAT || typeof parsed.state !== 'object' || parsed.state === null) {
      throw new Error(`${file} is not a fake-graph state file (format is not ${STATE_FILE_FORMAT})`);
    }
    restoreInto(fields(state), parsed.state);
    for (const [key, model] of Object.entries(more)) {
      const saved = parsed.state[key];
      if (saved !== null && typeof saved === 'object' && !Array.isArray(saved)) {
        restoreInto(model as Record<string, unknown>, saved);
      }
    }
    meta = parsed.meta ?? null;
    restored = true;
  }

  let timer: NodeJS.Timeout | null = null;
  const write = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    const snapshot = snapshotOf(fields(state));
    for (const [key, model] of Object.entries(more)) snapshot[key] = snapshotOf(model);
    const body: StateFile = {
      format: STATE_FILE_FORMAT,
      saved_at: new Date().toISOString(),
      meta: encode(meta),
      state: snapshot,
    };
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${String(process.pid)}.tmp`;
    // The file holds app secrets and tokens of the emulated world: owner-only, like the keeper's key file.
    writeFileSync(tmp, `${JSON.stringify(body)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
  };

  const persistence: StatePersistence = {
    file,
    restored,
    get meta() {
      return meta;
    },
    set meta(v: unknown) {
      meta = v;
      persistence.changed();
    },
    changed() {
      if (timer) return;
      timer = setTimeout(write, SAVE_DELAY_MS);
      timer.unref();
    },
    flush: write,
  };
  return persistence;
}
