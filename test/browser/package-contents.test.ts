/**
 * What `npm pack` would publish: the package is built into a scratch copy (tsc and the browser
 * bundle, as `npm run build` does), and `npm pack --dry-run --json` there must list every file the
 * manifest points at (`exports`, with the `tessera/browser` bundle and its types, `bin`), every
 * chunk and the WebAssembly kernels the bundle loads beside itself, and the built-in model that the
 * bundle (`new URL('../../models/builtin/', import.meta.url)`) and `tessera web` serve with the page.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBrowserBundle } from '../../scripts/build-browser.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
  scripts: Record<string, string>;
};

/** Every path a manifest entry names (condition objects included), without './'. */
function targets(entry: string | Record<string, string>): string[] {
  return (typeof entry === 'string' ? [entry] : Object.values(entry)).map((p) => p.replace(/^\.\//, ''));
}

describe('npm pack contents', () => {
  let dir: string;
  let packed: Set<string>;
  let bundleFiles: string[];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-pack-'));
    for (const f of ['package.json', 'README.md', 'LICENSE'])
      if (existsSync(join(root, f))) cpSync(join(root, f), join(dir, f));
    cpSync(join(root, 'models/builtin'), join(dir, 'models/builtin'), { recursive: true });
    execFileSync(
      join(root, 'node_modules/.bin/tsc'),
      ['-p', join(root, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')],
      {
        cwd: root,
        stdio: 'inherit',
      },
    );
    return buildBrowserBundle({ outdir: join(dir, 'dist/browser'), log: () => undefined }).then(() => {
      bundleFiles = readdirSync(join(dir, 'dist/browser'), { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => relative(dir, join(e.parentPath, e.name)));
      const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
        cwd: dir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const [info] = JSON.parse(out) as { files: { path: string }[] }[];
      packed = new Set(info!.files.map((f) => f.path));
    });
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('every export and bin target, tessera/browser with its types', () => {
    const browser = manifest.exports['./browser'];
    expect(typeof browser === 'object' && browser.types).toBeTruthy();
    const named = [
      ...Object.values(manifest.exports).flatMap(targets),
      ...Object.values(manifest.bin).map((p) => p.replace(/^\.\//, '')),
    ];
    expect(named).toContain('dist/browser/tessera.js');
    expect(named.filter((p) => !packed.has(p))).toEqual([]);
  });

  it('the whole bundle: entry, chunks, kernels', () => {
    expect(bundleFiles).toContain('dist/browser/tessera.js');
    expect(bundleFiles).toContain('dist/browser/wasm/kernels.wasm');
    expect(bundleFiles.some((f) => /dist\/browser\/chunk-[^/]+\.js$/.test(f))).toBe(true);
    expect(bundleFiles.filter((f) => !packed.has(f))).toEqual([]);
  });

  it('the built-in model, where the bundle looks for it', () => {
    const builtin = new URL('../../models/builtin/', 'file:///package/dist/browser/tessera.js').pathname.slice(
      '/package/'.length,
    );
    expect(builtin).toBe('models/builtin/');
    for (const f of [
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ])
      expect(packed.has(`${builtin}${f}`), `${builtin}${f} packed`).toBe(true);
  });

  it('packing builds first, so a clean checkout publishes the bundle', () => {
    expect(manifest.scripts.prepack).toBe('npm run build');
  });
});
