/** Loading a model for the CLI: the backend the user asked for and a one-line progress bar on stderr. */
import { openBackend } from '../backends/open.js';
import type { LoadProgress } from '../io/tensor-source.js';
import { type LoadedRunner, loadRunner } from '../models/load-model.js';

export async function loadRunnerWithProgress(modelPath: string | undefined, backendName?: string): Promise<LoadedRunner> {
  const backend = await openBackend({ prefer: backendName === 'cpu' || backendName === 'webgpu' ? backendName : 'auto' });
  const tty = process.stderr.isTTY;
  const onProgress = (p: LoadProgress) => {
    if (!tty) return;
    const frac = p.bytesTotal ? p.bytesDone / p.bytesTotal : 1;
    const width = 30;
    process.stderr.write(`\rloading [${'#'.repeat(Math.round(frac * width)).padEnd(width)}] ${(p.bytesDone / 2 ** 20).toFixed(1)}/${(p.bytesTotal / 2 ** 20).toFixed(1)} MiB`);
  };
  const loaded = await loadRunner(modelPath === undefined || modelPath === 'builtin' ? undefined : modelPath, { backend, onProgress });
  if (tty) process.stderr.write('\n');
  console.error(`[tessera] ${loaded.name} on ${backend.name}`);
  return loaded;
}
