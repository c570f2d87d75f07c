/**
 * The dependency lint's seam rule (`node-builtins-only-behind-the-platform-seam` in
 * .dependency-cruiser.cjs, run by `npm run lint`) must fail on a Node built-in imported outside
 * src/platform's Node files, in either spelling (`node:fs`, bare `os`), and let the seam itself
 * import them. It runs on a scratch src/ tree, with the repository's own configuration.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const FILES: Record<string, string> = {
  // outside the seam: each must be reported
  'src/engine/probe.ts': "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n",
  'src/top-level-probe.ts': "import { cpus } from 'os';\nexport const n = cpus;\n",
  // the seam's Node implementation: allowed
  'src/platform/node-probe.ts': "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n",
};

describe('dependency lint: Node built-ins only behind the platform seam', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-depcruise-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports each import outside src/platform/node*.ts, and none inside', () => {
    for (const [path, text] of Object.entries(FILES)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const out = execFileSync(
      join(root, 'node_modules/.bin/depcruise'),
      ['src', '--config', join(root, '.dependency-cruiser.cjs'), '--output-type', 'json'],
      { cwd: dir, encoding: 'utf8' },
    );
    const { summary } = JSON.parse(out) as {
      summary: { violations: { rule: { name: string }; from: string; to: string }[] };
    };
    const found = summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
    expect(found).toEqual([
      'node-builtins-only-behind-the-platform-seam: src/engine/probe.ts → fs',
      'node-builtins-only-behind-the-platform-seam: src/top-level-probe.ts → os',
    ]);
  });
});
