#!/usr/bin/env node
/**
 * A cluster on this machine: nats-server (JetStream, temporary store, free port), N instances of
 * the built-in model on the CPU backend, and the router in front of them.
 *
 *   node scripts/cluster-local.mjs [N=3] [--port 8080] [--policy consolidate] [-- extra serve flags…]
 *
 * Then: curl http://127.0.0.1:8080/v1/models, /health, /metrics, /cluster/decisions. Ctrl-C stops
 * everything (instances drain first).
 */
import { spawn } from 'node:child_process';
import { bundleCli, startInstance, startNats, stopChild, waitForLine } from './cluster-processes.mjs';

const argv = process.argv.slice(2);
const dashdash = argv.indexOf('--');
const extra = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
const flag = (name, fallback) => {
  const i = own.indexOf(name);
  return i >= 0 ? own[i + 1] : fallback;
};
const n = Number(own.find((a) => /^\d+$/.test(a)) ?? 3);
const port = flag('--port', '8080');
const policy = flag('--policy', 'consolidate');

const nats = await startNats();
console.log(`nats-server at ${nats.url} (store ${nats.store})`);
const cli = await bundleCli();
const instances = [];
const stopAll = async () => {
  await Promise.all(instances.map((i) => i.stop()));
  if (router) await stopChild(router);
  await nats.stop();
  process.exit(0);
};
let router;
try {
  // one at a time: loading N models at once on a small machine only makes each slower
  for (let k = 0; k < n; k++) {
    const inst = await startInstance(cli, nats.url, `i${k}`, extra);
    instances.push(inst);
    console.log(`instance ${inst.id} at ${inst.url}`);
  }
  router = spawn(process.execPath, [cli, 'router', '--cluster', nats.url, '--port', port, '--policy', policy], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  console.log(await waitForLine(router, /\[tessera router\]/, 30_000));
} catch (e) {
  console.error(e);
  await stopAll();
}
process.on('SIGINT', stopAll);
process.on('SIGTERM', stopAll);
