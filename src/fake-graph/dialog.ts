/**
 * The emulator's Facebook Login dialog (`/{version}/dialog/oauth`), enough for the reconnect flow:
 * pick the user, untick permissions to decline them, Continue or Cancel.
 */
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

interface DialogContext {
  apps: Map<string, { appId: string; name: string }>;
  users: { id: string; name: string }[];
  dialogUser: string | null;
  newCode(appId: string, redirectUri: string, userId: string, scopes: string[]): string;
}

export function dialogPage(
  step: 'show' | 'confirm',
  method: string,
  q: Record<string, string>,
  ctx: DialogContext,
): { status: number; headers: Record<string, string>; body: string } {
  const html = (status: number, body: string) => ({ status, headers: { 'content-type': 'text/html; charset=utf-8' }, body });
  const app = ctx.apps.get(q.client_id ?? '');
  if (!app || !q.redirect_uri) return html(400, '<h1>Invalid App ID or redirect_uri</h1>');
  const redirect = (params: Record<string, string>) => {
    const u = new URL(q.redirect_uri!);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return { status: 302, headers: { location: u.toString() }, body: '' };
  };
  const scopes = (q.scope ?? 'public_profile').split(/[ ,]+/).filter(Boolean);
  if (step === 'confirm' && method === 'POST') {
    if (q.action === 'cancel') {
      return redirect({ error: 'access_denied', error_code: '200', error_description: 'Permissions error', error_reason: 'user_denied', state: q.state ?? '' });
    }
    const granted = scopes.filter((s) => q[`scope_${s}`] === 'on');
    const userId = q.user_id ?? ctx.dialogUser ?? '';
    return redirect({ code: ctx.newCode(app.appId, q.redirect_uri, userId, granted), state: q.state ?? '' });
  }
  const users = [...ctx.users].sort((a, b) => (a.id === ctx.dialogUser ? -1 : b.id === ctx.dialogUser ? 1 : 0));
  const hidden = ['client_id', 'redirect_uri', 'state', 'scope', 'response_type']
    .map((k) => `<input type="hidden" name="${k}" value="${esc(q[k] ?? '')}">`)
    .join('');
  return html(
    200,
    `<!doctype html><html><head><meta charset="utf-8"><title>Log in with Facebook (emulator)</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}button{padding:.5rem 1rem;margin-right:.5rem}</style></head>
<body><h1>${esc(app.name)} wants to access your Pages</h1>
<form method="post" action="oauth/confirm">${hidden}
<label>Continue as <select name="user_id">${users.map((u) => `<option value="${esc(u.id)}">${esc(u.name)} (${esc(u.id)})</option>`).join('')}</select></label>
<fieldset><legend>Permissions</legend>${scopes
      .map((s) => `<label><input type="checkbox" name="scope_${esc(s)}" checked> ${esc(s)}</label><br>`)
      .join('')}</fieldset>
<button type="submit" name="action" value="continue">Continue</button><button type="submit" name="action" value="cancel">Cancel</button>
</form></body></html>`,
  );
}
