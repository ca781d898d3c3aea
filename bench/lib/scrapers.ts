/**
 * The metrics benchmark's scrapers, in their own process so that reading their bodies does not
 * slow the client that times the token route: `n` loops (scrape, read the whole body, repeat)
 * until the parent says stop, then the count, the failures and the median scrape time.
 */
const [url = '', token = '', n = '40'] = process.argv.slice(2);
const stop = new AbortController();
let scrapes = 0;
let failed = 0;
const ms: number[] = [];
process.on('message', () => stop.abort());
const loops = Array.from({ length: Number(n) }, async () => {
  while (!stop.signal.aborted) {
    const t = performance.now();
    try {
      const r = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: stop.signal });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`status ${r.status}`);
      ms.push(performance.now() - t);
      scrapes++;
    } catch {
      if (!stop.signal.aborted) failed++;
    }
  }
});
process.send?.({ ready: true });
await Promise.all(loops);
ms.sort((a, b) => a - b);
process.send?.({ scrapes, failed, p50: ms[Math.floor(ms.length / 2)] ?? Number.NaN });
process.disconnect();
