/**
 * `serve` sets V8's heap growing factor itself (src/heap.ts) unless the operator did: the
 * operator's NODE_OPTIONS or node flags always win.
 */
import { describe, expect, it } from 'vitest';
import { SERVE_HEAP_FLAGS, serveHeapFlags } from '../../src/heap.js';

describe('serve heap flags', () => {
  it('sets its own default when nobody chose one', () => {
    expect(SERVE_HEAP_FLAGS).toEqual(['--heap-growing-percent=25']);
    expect(serveHeapFlags(undefined, [])).toEqual(['--heap-growing-percent=25']);
    // Other flags, the young generation's size among them (the unit file sets it), leave it in place.
    expect(serveHeapFlags('--enable-source-maps', ['--max-semi-space-size=2'])).toEqual([
      '--heap-growing-percent=25',
    ]);
  });

  it('sets nothing when NODE_OPTIONS or node’s command line chose the growing factor', () => {
    expect(serveHeapFlags('--enable-source-maps --heap-growing-percent=0', [])).toEqual([]);
    expect(serveHeapFlags(undefined, ['--heap-growing-percent=100'])).toEqual([]);
  });
});
