/**
 * The README's pictures are what scripts/diagrams.ts writes from the code's state list: a state
 * added to PAGE_STATES without a transition, or a README edited by hand, fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { README, TRANSITIONS, withDiagrams } from '../../scripts/diagrams.js';
import { CONTROL_OPS, FAULT_KINDS } from '../../src/fake-graph/index.js';
import { PAGE_STATES } from '../../src/types.js';

describe('README diagrams', () => {
  it('every Page state is drawn, reached and left (or is where a Page can rest)', () => {
    for (const s of PAGE_STATES) {
      expect(
        TRANSITIONS.some((t) => t.to === s),
        `${s} is never reached`,
      ).toBe(true);
      expect(
        TRANSITIONS.some((t) => t.from === s),
        `${s} is never left`,
      ).toBe(true);
    }
  });

  it('the committed README holds exactly the generated diagrams (npm run diagrams)', () => {
    const readme = readFileSync(README, 'utf8');
    expect(readme).toBe(withDiagrams(readme));
    for (const s of PAGE_STATES) expect(readme).toContain(`state "${s}" as ${s}`);
  });
});

describe('docs/EMULATOR.md', () => {
  it('documents every control operation the emulator has', () => {
    const doc = readFileSync(new URL('../../docs/EMULATOR.md', import.meta.url), 'utf8');
    expect(CONTROL_OPS.filter((op) => !doc.includes(`| \`${op}\` |`))).toEqual([]);
    expect(FAULT_KINDS.filter((k) => !doc.includes(`\`${k}\``))).toEqual([]);
  });
});
