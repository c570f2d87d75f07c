/** Loading a model for the CLI: the backend the user asked for and a one-line progress bar on stderr. */
import { describeBackend, openBackend } from '../backends/open.js';
import type { LoadProgress } from '../io/tensor-source.js';
import { type LoadedRunner, loadRunner } from '../models/load-model.js';

export async function loadRunnerWithProgress(
  modelPath: string | undefined,
  backendName?: string,
): Promise<LoadedRunner> {
  // the fallback's reason joins the one line that names the backend
  let fallback = '';
  const backend = await openBackend({
    prefer: backendName as 'auto' | 'cpu' | 'webgpu' | undefined,
    log: (m) => {
      if (m.includes('running on the CPU backend'))
        fallback = m.replace(/^\[tessera\] running on the CPU backend: /, '');
      else console.error(m);
    },
  });
  const tty = process.stderr.isTTY;
  const t0 = performance.now();
  const rate = (bytes: number) => `${(bytes / 1e9 / Math.max(1e-3, (performance.now() - t0) / 1e3)).toFixed(2)} GB/s`;
  let total = 0;
  const onProgress = (p: LoadProgress) => {
    total = p.bytesTotal;
    if (!tty) return;
    const frac = p.bytesTotal ? p.bytesDone / p.bytesTotal : 1;
    const width = 30;
    process.stderr.write(
      `\rloading [${'#'.repeat(Math.round(frac * width)).padEnd(width)}] ${(p.bytesDone / 2 ** 20).toFixed(1)}/${(p.bytesTotal / 2 ** 20).toFixed(1)} MiB, ${rate(p.bytesDone)}`,
    );
  };
  const loaded = await loadRunner(modelPath === undefined || modelPath === 'builtin' ? undefined : modelPath, {
    backend,
    onProgress,
  });
  if (tty) process.stderr.write('\n');
  console.error(
    `[tessera] ${loaded.name} on ${describeBackend(backend)}${fallback ? `, no WebGPU: ${fallback}` : ''}${total > 2 ** 30 ? ` (weights loaded at ${rate(total)})` : ''}`,
  );
  return loaded;
}
