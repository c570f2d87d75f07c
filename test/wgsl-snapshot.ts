/**
 * Snapshot tests of generated WGSL: the sha256 of each configuration's kernel text, compared with a
 * JSON file of pinned hashes, so a refactor of a generator that changes a single byte of a shipped
 * kernel fails. After an intended change to the kernels, regenerate with UPDATE_WGSL_SNAPSHOT=1
 * (the file is written, then compared as usual) and say why in the commit.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A row that checks the hashes themselves: configurations whose switches must change the text. */
export interface DistinctKernels {
  readonly title: string;
  readonly check: (hashes: Readonly<Record<string, string>>) => void;
}

/**
 * Declares `title`: a row that the configurations are the snapshot's, the optional `distinct` row,
 * then one row per pinned configuration.
 */
export function describeWgslSnapshot(
  title: string,
  snapshot: URL,
  currentHashes: () => Record<string, string>,
  distinct?: DistinctKernels,
): void {
  describe(title, () => {
    const hashes = currentHashes();
    if (process.env.UPDATE_WGSL_SNAPSHOT === '1') {
      writeFileSync(snapshot, `${JSON.stringify(hashes, null, 2)}\n`);
      console.log(`wrote ${Object.keys(hashes).length} hashes to ${snapshot.pathname}`);
    }
    const pinned = JSON.parse(readFileSync(snapshot, 'utf8')) as Record<string, string>;

    it('covers the same configurations as the snapshot', () => {
      expect(Object.keys(hashes).sort()).toEqual(Object.keys(pinned).sort());
    });

    if (distinct) it(distinct.title, () => distinct.check(hashes));

    for (const name of Object.keys(pinned)) {
      it(name, () => {
        expect(hashes[name], name).toBe(pinned[name]);
      });
    }
  });
}
