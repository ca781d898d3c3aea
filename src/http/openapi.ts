/** Touch-ups of the generated OpenAPI document. */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * @fastify/swagger marks every request body `required`, but our optional bodies (renew, check,
 * validate) accept no body at all; their schemas are nullable, so mark those bodies optional.
 */
export function markOptionalBodies<T>(doc: T): T {
  const paths = isObj(doc) ? doc.paths : undefined;
  if (!isObj(paths)) return doc;
  for (const item of Object.values(paths)) {
    if (!isObj(item)) continue;
    for (const op of Object.values(item)) {
      const body = isObj(op) ? op.requestBody : undefined;
      if (!isObj(body) || !isObj(body.content)) continue;
      const json = body.content['application/json'];
      const schema = isObj(json) ? json.schema : undefined;
      if (isObj(schema) && schema.nullable === true) {
        body.required = false;
        body.description = 'Optional: the body may be left out.';
      }
    }
  }
  return doc;
}
