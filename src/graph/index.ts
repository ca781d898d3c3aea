/** The Graph API client: the only code that speaks to Facebook. */
export {
  type AppCredentials,
  appsecretProof,
  appToken,
  createGraphClient,
  type DebugTokenInfo,
  type ExchangedToken,
  type GraphCallInfo,
  type GraphClient,
  type GraphClientOptions,
  type PageAccount,
  type PageTokenResult,
} from './client.js';
export {
  type ClassifyContext,
  classifyGraphError,
  defaultThrottleMs,
  GraphError,
  type GraphErrorFields,
  type GraphErrorKind,
  isThrottleCode,
  kindOf,
  REAUTH_SUBCODES,
  reauthHumanMessage,
} from './errors.js';
export { redactUrl, SECRET_PARAMS, safeCause, scrubSecrets } from './redact.js';
export {
  APP_THROTTLE_DEFAULT_MS,
  type BusinessUsageEntry,
  type GraphUsage,
  type HeaderSource,
  PAGE_THROTTLE_DEFAULT_MS,
  parseUsageHeaders,
  type UsageNumbers,
} from './usage.js';
