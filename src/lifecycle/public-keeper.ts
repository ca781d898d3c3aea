/**
 * The keeper as the library hands it out (`import { createTokenKeeper } from 'fb-token-keeper'`):
 * only the TokenKeeper methods, as a new object. The internals the CLI, the HTTP API and the tests
 * use (the store, the Graph client, the reconnect-link secret, the config) are not reachable from
 * it, not even at run time, so a posting app cannot read secrets it was never meant to have.
 */
import type { TokenKeeper } from './types.js';

export function publicKeeper(k: TokenKeeper): TokenKeeper {
  // An object literal typed TokenKeeper: the compiler refuses a member the interface lacks, and
  // asks for any it gains.
  const surface: TokenKeeper = {
    events: k.events,
    setup: (input) => k.setup(input),
    status: (pageId, options) => k.status(pageId, options),
    listPages: () => k.listPages(),
    getPageToken: (pageId, options) => k.getPageToken(pageId, options),
    refreshPageToken: (pageId, reported) => k.refreshPageToken(pageId, reported),
    check: (options) => k.check(options),
    renew: (pageId, options) => k.renew(pageId, options),
    validate: (input) => k.validate(input),
    updatePage: (pageId, patch) => k.updatePage(pageId, patch),
    deletePage: (pageId) => k.deletePage(pageId),
    history: (pageId, options) => k.history(pageId, options),
    reconnect: (pageId, code, redirectUri) => k.reconnect(pageId, code, redirectUri),
    reconnectLogin: (pageId, code, redirectUri) => k.reconnectLogin(pageId, code, redirectUri),
    reconnectDialogUrl: (page, redirectUri, state) => k.reconnectDialogUrl(page, redirectUri, state),
    connect: (input) => k.connect(input),
    listConnections: () => k.listConnections(),
    getConnection: (id) => k.getConnection(id),
    getConnectionToken: (id) => k.getConnectionToken(id),
    listWhatsAppAccounts: () => k.listWhatsAppAccounts(),
    getWhatsAppAccount: (id) => k.getWhatsAppAccount(id),
    deleteConnection: (id) => k.deleteConnection(id),
    close: () => k.close(),
  };
  return Object.freeze(surface);
}
