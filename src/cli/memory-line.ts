import type { Backend } from '../backends/backend.js';

/**
 * Where the weights went: device bytes (the WebGPU arena's "weights" owner, else the runner's own
 * count), the formats kept quantized, and the process's resident host memory after the load.
 */
export function memoryLine(backend: Backend, runner: unknown): string {
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const arena = (backend as { memory?: () => { byOwner: ReadonlyMap<string, number> } }).memory?.();
  const r = runner as { weightBytes?: () => number; quantizedWeights?: Readonly<Record<string, number>> };
  const device = arena?.byOwner.get('weights') ?? r.weightBytes?.();
  const quantized = Object.entries(r.quantizedWeights ?? {}).map(([f, n]) => `${n} ${f}`);
  return [
    device === undefined ? null : `weights ${mib(device)} on the ${arena ? 'GPU' : 'backend'}`,
    quantized.length ? `kept quantized: ${quantized.join(', ')} matrices` : null,
    `host resident ${mib(process.memoryUsage().rss)}`,
  ]
    .filter((x) => x !== null)
    .join('; ');
}
