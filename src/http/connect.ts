// TEMPORARY placeholder (not committed).
import type { Config } from '../config.js';
export function reconnectUrl(config: Config, pageId: string, _now: number, _secret: Buffer): string {
  return `${config.publicUrl}/connect/${pageId}`;
}
