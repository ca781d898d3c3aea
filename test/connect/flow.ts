/**
 * The reconnect round trip without a browser: our routes through `app.inject`, the emulator's Login
 * dialog over real HTTP (GET the dialog, POST its form like a person pressing a button).
 */
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';

export interface Started {
  status: number;
  /** The Login dialog URL we were sent to. */
  location: string;
  /** `name=value`, ready for a Cookie header. */
  cookie: string;
  setCookie: string;
}

/** `GET /connect/{page_id}?exp&sig` as given in an alert (absolute or relative URL). */
export async function openLink(app: FastifyInstance, link: string): Promise<Started> {
  const u = new URL(link, 'http://localhost');
  const res = await app.inject({ method: 'GET', url: u.pathname + u.search });
  const setCookie = String(res.headers['set-cookie'] ?? '');
  return {
    status: res.statusCode,
    location: res.headers.location ?? '',
    cookie: setCookie.split(';')[0] ?? '',
    setCookie,
  };
}

export interface DialogChoice {
  /** Log in as this user (default: whoever the dialog offers first). */
  userId?: string;
  /** Permissions to untick. */
  untick?: string[];
  /** Pages to untick in the Page picker (when the dialog shows it). */
  untickPages?: string[];
  cancel?: boolean;
}

/** Fill in and submit the emulator's Login dialog; returns the callback URL Facebook redirects to. */
export async function answerDialog(dialogUrl: string, choice: DialogChoice = {}): Promise<URL> {
  const page = await fetch(dialogUrl);
  expect(page.status).toBe(200);
  const html = await page.text();
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  expect(action).toBeDefined();
  const form = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    form.set(m[1]!, unescape(m[2]!));
  }
  const firstUser = /<option value="([^"]+)">/.exec(html)?.[1] ?? '';
  form.set('user_id', choice.userId ?? firstUser);
  for (const m of html.matchAll(/<input type="checkbox" name="(scope_[^"]+)" checked>/g)) {
    if (!choice.untick?.includes(m[1]!.slice('scope_'.length))) form.set(m[1]!, 'on');
  }
  for (const m of html.matchAll(/<input type="checkbox" name="page_([^"]+)" checked>/g)) {
    if (!choice.untickPages?.includes(m[1]!)) form.set(`page_${m[1]!}`, 'on');
  }
  form.set('action', choice.cancel ? 'cancel' : 'continue');
  const res = await fetch(new URL(action!, dialogUrl), {
    method: 'POST',
    body: form,
    redirect: 'manual',
  });
  expect(res.status).toBe(302);
  return new URL(String(res.headers.get('location')));
}

export interface Finished {
  status: number;
  body: string;
  headers: Record<string, unknown>;
}

/** `GET /connect/callback?…` with the browser's cookie (or none). */
export async function callback(app: FastifyInstance, url: URL | string, cookie?: string): Promise<Finished> {
  const u = typeof url === 'string' ? new URL(url, 'http://localhost') : url;
  const res = await app.inject({
    method: 'GET',
    url: u.pathname + u.search,
    headers: cookie ? { cookie } : {},
  });
  return { status: res.statusCode, body: res.body, headers: res.headers };
}

/** The `<h1>` text of one of our HTML pages, entities decoded. */
export function title(body: string): string {
  return unescape(/<h1>.*?<span>([^<]*)<\/span><\/h1>/s.exec(body)?.[1] ?? '');
}

function unescape(s: string): string {
  return s.replace(
    /&(amp|lt|gt|quot|#39);/g,
    (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] ?? '',
  );
}
