/**
 * Processes of a local cluster, shared by scripts/cluster-local.mjs and the cluster test:
 * nats-server with JetStream on a free port and a temporary store, the CLI bundled once into
 * .build-cli/ (esbuild; the CPU kernels' wasm beside it, the built-in model found upward from it),
 * and `tessera serve --cluster` instances as child processes (so one can be killed with SIGKILL).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { buildCpuWasm } from './build-cpu-wasm.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

export const NATS_SERVER = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find((p) =>
  existsSync(p),
);

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resolves with the first line of the child's output matching `pattern`; rejects when it exits first or after `ms`. */
export function waitForLine(child, pattern, ms = 60_000) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${pattern}; output so far:\n${seen}`)), ms);
    const onData = (chunk) => {
      seen += chunk.toString();
      const m = seen.split('\n').find((l) => pattern.test(l));
      if (m) done(null, m);
    };
    const onExit = (code) => done(new Error(`exited (${code}) before ${pattern}; output:\n${seen}`));
    function done(err, line) {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      err ? reject(err) : resolve(line);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** nats-server with JetStream (the KV bucket needs it) on a free loopback port; `stop()` ends it. */
export async function startNats() {
  if (!NATS_SERVER) throw new Error('nats-server is not installed (apt-get install nats-server)');
  const port = await freePort();
  const store = await mkdtemp(join(tmpdir(), 'tessera-nats-'));
  const child = spawn(NATS_SERVER, ['-js', '-sd', store, '-a', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await waitForLine(child, /Server is ready/, 15_000);
  return { url: `nats://127.0.0.1:${port}`, child, store, stop: () => stopChild(child) };
}

/** The CLI as one ESM file under .build-cli/ (dependencies stay in node_modules); returns its path. */
export async function bundleCli() {
  await buildCpuWasm({ ifStale: true });
  const out = join(root, '.build-cli');
  await build({
    entryPoints: [join(root, 'src/cli/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: join(out, 'main.mjs'),
    logLevel: 'warning',
  });
  await mkdir(join(out, 'wasm'), { recursive: true });
  await copyFile(join(root, 'src/backends/cpu/wasm/kernels.wasm'), join(out, 'wasm/kernels.wasm'));
  return join(out, 'main.mjs');
}

/**
 * `tessera serve --backend cpu --port 0 --cluster <url> --instance-id <id> …extra`; resolves once it
 * has joined the cluster, with the child and its URL.
 */
export async function startInstance(cli, natsUrl, id, extra = []) {
  const child = spawn(
    process.execPath,
    [cli, 'serve', '--backend', 'cpu', '--port', '0', '--cluster', natsUrl, '--instance-id', id, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { XDG_RUNTIME_DIR: '/tmp', ...process.env } },
  );
  const line = await waitForLine(child, /\[tessera cluster\] joined/, 120_000);
  const url = /\((http:[^)]+)\)/.exec(line)?.[1];
  return { id, child, url, stop: () => stopChild(child) };
}

/** SIGTERM, then SIGKILL after `ms`; resolves when the child has exited. */
export function stopChild(child, ms = 5_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
