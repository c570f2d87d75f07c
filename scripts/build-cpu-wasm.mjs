/**
 * Builds the CPU backend's kernels (src/backends/cpu/wasm/kernels.ts, AssemblyScript) into
 * src/backends/cpu/wasm/kernels.wasm, and copies it beside the compiled backend in dist/ when
 * that exists. `--if-stale` skips the build when the .wasm is newer than its sources (tests use it).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'src/backends/cpu/wasm');
const out = join(dir, 'kernels.wasm');

export async function buildCpuWasm({ ifStale = false } = {}) {
  const sources = readdirSync(dir).filter((f) => f.endsWith('.ts') || f.endsWith('.json'));
  const newest = Math.max(...sources.map((f) => statSync(join(dir, f)).mtimeMs));
  if (!(ifStale && existsSync(out) && statSync(out).mtimeMs >= newest)) {
    const asc = await import('assemblyscript/asc');
    const { error, stderr } = await asc.main(['kernels.ts', '--config', 'asconfig.json', '--baseDir', dir]);
    if (error) throw new Error(`AssemblyScript build of the CPU kernels failed:\n${stderr.toString()}`);
  }
  const distDir = join(root, 'dist/src/backends/cpu/wasm');
  if (existsSync(join(root, 'dist/src/backends/cpu'))) {
    mkdirSync(distDir, { recursive: true });
    copyFileSync(out, join(distDir, 'kernels.wasm'));
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildCpuWasm({ ifStale: process.argv.includes('--if-stale') });
}
