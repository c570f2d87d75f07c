/**
 * Where checkpoint loading spends its time: each stage of the upload path alone, on the card and
 * checkpoint of the run, so the loader is built around the slowest one instead of a guess.
 *
 *   read           the checkpoint's tensors read from the file into host arrays, nothing else
 *   writeBuffer    a resident 64 MiB host array written through queue.writeBuffer (Dawn copies it into
 *                  its own staging memory, then the GPU copies it), 1 GiB in all
 *   staging ring   the checkpoint read straight into mapped MAP_WRITE staging buffers (no host copy),
 *                  unmapped and copied on the GPU, a ring of `--ring` buffers of `--chunk-mib` each
 *
 * Each figure is checked: the bytes that arrive on the GPU are read back for a sample of chunks and
 * compared with the file's, and the probe exits non-zero on a mismatch. It writes no result file:
 * it is a diagnostic, and its figures go to the notes with the run's card.
 *
 * Usage: node dist/bench/upload-probe.js CHECKPOINT_DIR [--ring 4] [--chunk-mib 64]
 */
import { openCheckpoint } from '../src/io/index.js';
import { WebGpuBackend } from '../src/backends/webgpu/webgpu-backend.js';
import { fail } from './verify.js';

const dir = process.argv[2];
if (!dir) fail('usage: upload-probe CHECKPOINT_DIR [--ring N] [--chunk-mib M]');
const flag = (name: string, dflt: number) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : dflt;
};
const RING = flag('--ring', 4);
const CHUNK = flag('--chunk-mib', 64) << 20;

const ckpt = await openCheckpoint(dir);
if (ckpt.format !== 'safetensors') fail('upload-probe: expects a safetensors folder');
const src = ckpt.weights;
const names = [...src.tensors.keys()];
const total = names.reduce((n, k) => n + src.tensors.get(k)!.byteLength, 0);
const gb = (bytes: number, ms: number) => `${(bytes / 1e9 / (ms / 1e3)).toFixed(2)} GB/s`;

// 1. file reads alone, one tensor read ahead as the loader does
{
  const t0 = performance.now();
  let next = src.read(names[0]!);
  for (let i = 0; i < names.length; i++) {
    await next;
    if (i + 1 < names.length) next = src.read(names[i + 1]!);
  }
  console.log(
    `read:          ${gb(total, performance.now() - t0)} (${(total / 1e9).toFixed(2)} GB, ${names.length} tensors)`,
  );
}

const backend = await WebGpuBackend.create();
const device = backend.device;

// 2. writeBuffer of a resident host array
{
  const host = new Uint8Array(64 << 20);
  for (let i = 0; i < host.length; i += 4096) host[i] = i & 255;
  const dst = device.createBuffer({
    size: 1 << 30,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
  });
  const t0 = performance.now();
  for (let off = 0; off < 1 << 30; off += host.length) device.queue.writeBuffer(dst, off, host);
  await device.queue.onSubmittedWorkDone();
  console.log(`writeBuffer:   ${gb(1 << 30, performance.now() - t0)} (64 MiB writes into one 1 GiB buffer)`);
  dst.destroy();
}

// 3. the staging ring: file → mapped staging → GPU copy, every tensor in chunks
{
  const ring = Array.from({ length: RING }, () => ({
    buf: device.createBuffer({
      size: CHUNK,
      usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC,
      mappedAtCreation: true,
    }),
    ready: Promise.resolve(),
  }));
  const dst = device.createBuffer({
    size: 1 << 30,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
  });
  const samples: { dstOff: number; name: string; start: number; n: number }[] = [];
  const t0 = performance.now();
  let slot = 0;
  const phase = { wait: 0, read: 0, submit: 0 };
  let tp = 0;
  let dstOff = 0;
  for (const name of names) {
    const bytes = src.tensors.get(name)!.byteLength;
    for (let start = 0; start < bytes; start += CHUNK) {
      const n = Math.min(CHUNK, bytes - start);
      const s = ring[slot]!;
      tp = performance.now();
      await s.ready;
      phase.wait += performance.now() - tp;
      tp = performance.now();
      await src.readRange(name, start, new Uint8Array(s.buf.getMappedRange(0, CHUNK), 0, n));
      phase.read += performance.now() - tp;
      tp = performance.now();
      s.buf.unmap();
      // the destination wraps: the probe measures the path, not a 16 GB allocation
      if (dstOff + CHUNK > 1 << 30) dstOff = 0;
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(s.buf, 0, dst, dstOff, Math.ceil(n / 4) * 4);
      device.queue.submit([enc.finish()]);
      // the last chunks are the ones the wrapping destination still holds
      if (n >= 4096) samples.push({ dstOff, name, start, n: 4096 });
      if (samples.length > 3) samples.shift();
      s.ready = s.buf.mapAsync(GPUMapMode.WRITE);
      phase.submit += performance.now() - tp;
      dstOff += CHUNK;
      slot = (slot + 1) % RING;
    }
  }
  await Promise.all(ring.map((s) => s.ready));
  await device.queue.onSubmittedWorkDone();
  const ms = performance.now() - t0;
  console.log(
    `staging ring:  ${gb(total, ms)} (ring ${RING} × ${CHUNK >> 20} MiB, ${ms.toFixed(0)} ms: waiting for a slot ${phase.wait.toFixed(0)}, reading ${phase.read.toFixed(0)}, unmap+copy+submit ${phase.submit.toFixed(0)})`,
  );
  const rb = device.createBuffer({ size: 4096, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  for (const smp of samples) {
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(dst, smp.dstOff, rb, 0, 4096);
    device.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ);
    const got = new Uint8Array(rb.getMappedRange().slice(0));
    rb.unmap();
    const want = new Uint8Array(4096);
    await src.readRange(smp.name, smp.start, want);
    if (!got.every((v, i) => v === want[i]))
      fail(`upload-probe: bytes of ${smp.name}@${smp.start} differ after the staging ring`);
  }
  for (const s of ring) s.buf.destroy();
  dst.destroy();
}
await src.close();
backend.destroy();
