/**
 * The file seam's web implementations, in Node (which has fetch and Blob too): a checkpoint read
 * through a URL folder (HTTP Range requests) or a Blob folder equals the same checkpoint read from
 * disk, byte for byte, with progress; a server without Range support and missing files fail clearly.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Checkpoint, type HfCheckpoint, openCheckpoint } from '../../src/io/open-checkpoint.js';
import type { ByteProgress } from '../../src/platform/byte-source.js';
import { blobFolder, urlFolder, urlSource } from '../../src/platform/web-files.js';
import { startStaticServer, type StaticServer } from '../browser/static-server.js';

const models = fileURLToPath(new URL('../../models/', import.meta.url));
const builtin = join(models, 'builtin');
const FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'];

/** Every tensor of two checkpoints has the same dtype, shape and bytes. */
async function expectSameTensors(a: Checkpoint, b: Checkpoint): Promise<void> {
  expect([...a.weights.tensors.keys()]).toEqual([...b.weights.tensors.keys()]);
  for (const [name, info] of a.weights.tensors) {
    expect(b.weights.tensors.get(name)?.shape).toEqual(info.shape);
    const [x, y] = [await a.weights.read(name), await b.weights.read(name)];
    // Buffer.compare: vitest's deep equality walks a typed array element by element
    const same = Buffer.compare(
      Buffer.from(x.buffer, x.byteOffset, x.byteLength),
      Buffer.from(y.buffer, y.byteOffset, y.byteLength),
    );
    expect(same, name).toBe(0);
  }
}

describe('checkpoints through the web file seam', () => {
  let server: StaticServer;
  beforeAll(async () => {
    server = await startStaticServer({ '/models/': models });
  });
  afterAll(() => server.close());

  it('a URL folder reads the built-in model as the local folder does, by range, with progress', async () => {
    const progress: ByteProgress[] = [];
    const local = (await openCheckpoint(builtin)) as HfCheckpoint;
    const remote = (await openCheckpoint(
      urlFolder(`${server.url}/models/builtin/`, { onProgress: (p) => progress.push(p) }),
    )) as HfCheckpoint;
    try {
      expect(remote.format).toBe('safetensors');
      expect(remote.config).toEqual(local.config);
      expect(remote.tokenizer!.encode('The jury said')).toEqual(local.tokenizer!.encode('The jury said'));
      await expectSameTensors(local, remote);
      const weights = progress.filter((p) => p.file.endsWith('model.safetensors'));
      expect(weights.length).toBeGreaterThan(2);
      for (let i = 1; i < weights.length; i++) expect(weights[i]!.loaded).toBeGreaterThan(weights[i - 1]!.loaded);
      expect(weights.at(-1)!.total).toBe(readFileSync(join(builtin, 'model.safetensors')).byteLength);
      expect(server.ranges.get('/models/builtin/model.safetensors')).toBeGreaterThan(2);
    } finally {
      await local.weights.close();
      await remote.weights.close();
    }
  });

  it('user-picked files (Blobs by name) read as the local folder does', async () => {
    const picked = Object.fromEntries(FILES.map((f) => [f, new Blob([readFileSync(join(builtin, f))])]));
    const local = (await openCheckpoint(builtin)) as HfCheckpoint;
    const fromBlobs = (await openCheckpoint(blobFolder(picked, { location: 'picked' }))) as HfCheckpoint;
    try {
      expect(fromBlobs.config).toEqual(local.config);
      await expectSameTensors(local, fromBlobs);
    } finally {
      await local.weights.close();
      await fromBlobs.weights.close();
    }
  });

  it('a missing file is null; a missing checkpoint names the URL', async () => {
    const folder = urlFolder(`${server.url}/models/builtin/`);
    expect(await folder.open('absent.safetensors')).toBeNull();
    expect(await folder.readText('absent.json')).toBeNull();
    await expect(openCheckpoint(urlFolder(`${server.url}/models/absent/`))).rejects.toThrow(
      /models\/absent\/config\.json/,
    );
  });

  it('refuses a server that ignores Range requests, saying why', async () => {
    const plain = createServer((_req, res) => res.end('0123456789')).listen(0, '127.0.0.1');
    await new Promise((ok) => plain.on('listening', ok));
    try {
      const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/model.safetensors`;
      await expect(urlSource(url)).rejects.toThrow(/does not answer HTTP Range requests \(status 200\)/);
    } finally {
      plain.close();
    }
  });
});
