/** The OpenAPI document: valid OpenAPI 3 (by a validator library), complete, and browsable offline. */
import { validate } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';
import { withApi } from './world.js';

const API = [
  ['get', '/api/token/status'],
  ['post', '/api/token/renew'],
  ['post', '/api/token/setup'],
  ['post', '/api/token/validate'],
  ['get', '/api/pages'],
  ['get', '/api/pages/{page_id}'],
  ['patch', '/api/pages/{page_id}'],
  ['delete', '/api/pages/{page_id}'],
  ['post', '/api/pages/{page_id}/renew'],
  ['post', '/api/pages/{page_id}/check'],
  ['get', '/api/pages/{page_id}/history'],
  ['get', '/api/pages/{page_id}/token'],
  ['post', '/api/pages/{page_id}/token/refresh'],
] as const;

describe('OpenAPI', () => {
  it('/openapi.json is a valid OpenAPI 3 document describing every route, its schemas and bearer auth', async () => {
    await withApi('sqlite', async (w) => {
      const r = await w.call('GET', '/openapi.json', { key: null });
      expect(r.statusCode).toBe(200);
      const doc = r.json();
      expect(doc.openapi).toMatch(/^3\./);
      const result = await validate(structuredClone(doc));
      expect(result.valid, JSON.stringify(result)).toBe(true);

      expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
      for (const [method, path] of API) {
        const op = doc.paths[path]?.[method];
        expect(op, `${method} ${path}`).toBeDefined();
        expect(op.security).toEqual([{ bearerAuth: [] }]);
        expect(op.responses['200'] ?? op.responses['201']).toBeDefined();
        expect(op.responses['401'].content['application/json'].schema.properties.error).toBeDefined();
      }
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        expect(doc.paths[path].get.security).toBeUndefined();
      }
      // Only our routes: the docs' own routes and /openapi.json are hidden.
      expect(Object.keys(doc.paths).filter((p) => p.startsWith('/docs') || p === '/openapi.json')).toEqual(
        [],
      );

      const setup = doc.paths['/api/token/setup'].post;
      expect(setup.requestBody.required).toBe(true);
      expect(setup.requestBody.content['application/json'].schema.required).toEqual([
        'page_id',
        'access_token',
        'app_id',
        'app_secret',
      ]);
      expect(setup.responses['201'].content['application/json'].schema.properties.state.enum).toContain(
        'needs_reauth',
      );
      // The seed's renew takes no body at all.
      expect(doc.paths['/api/token/renew'].post.requestBody.required).toBe(false);
      const history = doc.paths['/api/pages/{page_id}/history'].get.parameters.map(
        (p: { name: string; in: string }) => `${p.in}:${p.name}`,
      );
      expect(history.sort()).toEqual(['path:page_id', 'query:before_id', 'query:limit']);
      const token = doc.paths['/api/pages/{page_id}/token'].get;
      expect(token.description).toMatch(/token:read/);
      const refresh = doc.paths['/api/pages/{page_id}/token/refresh'].post;
      expect(refresh.requestBody.required).toBe(false);
      expect(Object.keys(refresh.responses)).toEqual(
        expect.arrayContaining(['200', '400', '403', '409', '429']),
      );
      expect(refresh.responses['200'].content['application/json'].schema.properties.verdict.enum).toEqual([
        'token_valid',
        'healed',
        'renewed',
      ]);
    });
  });

  it('/docs serves Swagger UI from local files only', async () => {
    await withApi('sqlite', async (w) => {
      const page = await w.call('GET', '/docs', { key: null });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/text\/html/);
      const html = page.body;
      expect(html).toContain('swagger-ui');
      // No script, stylesheet or image from anywhere but this server.
      expect(html).not.toMatch(/(src|href)=["']https?:/);
      const init = await w.call('GET', '/docs/static/swagger-initializer.js', { key: null });
      expect(init.statusCode).toBe(200);
      expect(init.body).toContain('validatorUrl: null');
      for (const m of html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)) {
        const asset = await w.call('GET', m[1]!, { key: null });
        expect(asset.statusCode, m[1]).toBe(200);
      }
      const json = await w.call('GET', '/docs/json', { key: null });
      expect(json.json().paths['/api/token/setup']).toBeDefined();
    });
  });
});
