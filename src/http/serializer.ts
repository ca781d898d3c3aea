/**
 * Response serialisation: each route's zod response schema, turned into JSON Schema once and
 * compiled with fast-json-stringify, instead of a zod parse of every body before JSON.stringify.
 *
 * Why: the zod pass copied and checked every answer (≈ 8 % of a status request, more in garbage;
 * docs/BENCHMARKS.md, API) to prove what the TypeScript types already prove (schemas.ts asserts
 * that each schema and its core type are the same). What the zod pass also guaranteed is kept:
 * only fields the schema names are written, so a field added to an object by mistake (a token)
 * never leaves; a field the schema requires and the body lacks is still a 500.
 *
 * A schema that does not translate into the plain subset below (unions, tuples, refs, transforms,
 * anything else) keeps the zod serialiser. With `check` (tests), every body goes through both and a
 * difference is an error, so the route tests prove the two write the same JSON.
 */
import { isDeepStrictEqual } from 'node:util';
import fastJson from 'fast-json-stringify';
import { serializerCompiler as zodSerializerCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';

type JsonSchema = Record<string, unknown>;
type Serialize = (data: unknown) => string;
type CompilerInput = Parameters<typeof zodSerializerCompiler>[0];

/** Keywords that say nothing about how a value is written (checks, documentation). */
const IGNORED = new Set([
  '$schema',
  'description',
  'title',
  'examples',
  'format',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minItems',
  'maxItems',
  'uniqueItems',
  'propertyNames',
  'enum',
  'readOnly',
]);

/**
 * The schema in the subset fast-json-stringify writes exactly as JSON.stringify would (objects
 * with named properties, arrays, primitives, "X or null", any), or null when it is outside it.
 */
export function plainSchema(schema: unknown): JsonSchema | null {
  if (schema === true) return {};
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return null;
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(schema as JsonSchema)) {
    if (IGNORED.has(k)) continue;
    switch (k) {
      case 'type': {
        const types = Array.isArray(v) ? (v as unknown[]) : [v];
        if (!types.every((t) => typeof t === 'string')) return null;
        // An integer is written as the number it is; fast-json-stringify would truncate a fraction.
        const mapped = types.map((t) => (t === 'integer' ? 'number' : t));
        out.type = mapped.length === 1 ? mapped[0] : [...new Set(mapped)];
        break;
      }
      case 'const':
        if (v !== null && typeof v === 'object') return null;
        out.const = v;
        break;
      case 'required':
        out.required = v;
        break;
      case 'properties': {
        const props: JsonSchema = {};
        for (const [name, sub] of Object.entries(v as JsonSchema)) {
          const p = plainSchema(sub);
          if (!p) return null;
          props[name] = p;
        }
        out.properties = props;
        break;
      }
      case 'additionalProperties':
      case 'items': {
        if (v === false) break; // fields the schema does not name are not written anyway
        const p = plainSchema(v);
        if (!p) return null;
        out[k] = p;
        break;
      }
      case 'anyOf': {
        // Only "X or null", as zod writes `.nullable()`.
        const options = (v as unknown[]).map(plainSchema);
        const isNull = (o: JsonSchema | null) => o?.type === 'null' && Object.keys(o).length === 1;
        const rest = options.filter((o) => !isNull(o));
        const other = rest[0];
        if (options.length !== 2 || rest.length !== 1 || !other) return null;
        if (other.type === undefined) break; // any, null included
        if (typeof other.type !== 'string' || 'const' in other) return null;
        Object.assign(out, other, { type: [other.type, 'null'] });
        break;
      }
      default:
        return null;
    }
  }
  return out;
}

function zodSerializer(input: CompilerInput): Serialize {
  return zodSerializerCompiler(input) as Serialize;
}

/**
 * The compiled serialiser of one route's response schema; compiled on first use, so the error
 * statuses every route declares (which the error handler writes itself) cost nothing at start-up.
 */
export function createSerializerCompiler(options: { check?: boolean } = {}) {
  return (input: CompilerInput): Serialize => {
    let serialize: Serialize | undefined;
    const build = (): Serialize => {
      const reference = zodSerializer(input);
      let json: JsonSchema | null;
      try {
        json = plainSchema(z.toJSONSchema(input.schema as z.ZodType, { io: 'output', target: 'draft-7' }));
      } catch {
        json = null; // a transform or another type JSON Schema cannot describe: zod writes it
      }
      if (!json) return reference;
      const fast = fastJson(json) as Serialize;
      if (!options.check) return fast;
      return (data) => {
        const written = fast(data);
        const expected = reference(data);
        if (!isDeepStrictEqual(JSON.parse(written), JSON.parse(expected))) {
          throw new Error(
            `the compiled serialiser of ${input.method} ${input.url} (${input.httpStatus}) wrote ${written.slice(0, 500)}; zod writes ${expected.slice(0, 500)}`,
          );
        }
        return written;
      };
    };
    return (data) => (serialize ??= build())(data);
  };
}
