/**
 * A safetensors checkpoint as HF writes it: one `model.safetensors`, or shards listed by
 * `model.safetensors.index.json` (`{ metadata: { total_size }, weight_map: { tensor: shard } }`).
 * Either way callers see one flat map of tensors and read them one at a time.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import type { HostArray } from '../tensor/dtype.js';
import { CheckpointError, describeError } from './errors.js';
import { SafetensorsFile, type SafetensorsTensorInfo, type UnsupportedTensor } from './safetensors-file.js';
import type { ProgressCallback, TensorSource } from './tensor-source.js';

export const SAFETENSORS_INDEX = 'model.safetensors.index.json';
export const SAFETENSORS_SINGLE = 'model.safetensors';

export class SafetensorsCheckpoint implements TensorSource {
  constructor(
    /** The file or index the checkpoint was opened from. */
    readonly path: string,
    private readonly files: readonly SafetensorsFile[],
    private readonly owner: ReadonlyMap<string, SafetensorsFile>,
    readonly tensors: ReadonlyMap<string, SafetensorsTensorInfo>,
    readonly unsupported: ReadonlyMap<string, UnsupportedTensor>,
    /** `__metadata__` of the first file (HF stores `{ format: 'pt' }` there). */
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  get shards(): readonly string[] {
    return this.files.map((f) => f.path);
  }

  /** Total bytes of all readable tensors: what a full load moves. */
  get totalBytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.byteLength;
    return n;
  }

  private file(name: string): SafetensorsFile {
    const f = this.owner.get(name);
    if (f !== undefined) return f;
    const skipped = this.unsupported.get(name);
    if (skipped !== undefined) return this.files.find((x) => x.path === skipped.file)!; // its info() explains the dtype
    throw new CheckpointError(this.path, 'no such tensor in this checkpoint', {
      tensor: name,
      hint: 'check the tensor name against the checkpoint',
    });
  }

  async read(name: string): Promise<HostArray> {
    return this.file(name).read(name);
  }

  async readInto(name: string, target: Uint8Array): Promise<number> {
    return this.file(name).readInto(name, target);
  }

  async readRange(name: string, start: number, target: Uint8Array, onBytes?: (n: number) => void): Promise<void> {
    return this.file(name).readRange(name, start, target, onBytes);
  }

  /**
   * Streams one tensor in chunks of at most `chunkBytes` (each chunk a fresh buffer the caller
   * may keep), reporting bytes as they arrive.
   *
   * @example
   * for await (const { offset, bytes } of ckpt.chunks('lm_head.weight', 16 << 20)) queue.writeBuffer(buf, offset, bytes);
   */
  async *chunks(
    name: string,
    chunkBytes: number,
    onProgress?: ProgressCallback,
  ): AsyncGenerator<{ offset: number; bytes: Uint8Array }> {
    const info = this.file(name).info(name);
    if (!(chunkBytes > 0)) throw new RangeError(`chunks('${name}'): chunkBytes must be positive, got ${chunkBytes}`);
    for (let offset = 0; offset < info.byteLength; offset += chunkBytes) {
      const bytes = new Uint8Array(Math.min(chunkBytes, info.byteLength - offset));
      await this.readRange(name, offset, bytes);
      const bytesDone = offset + bytes.byteLength;
      onProgress?.({
        tensor: name,
        tensorsDone: bytesDone === info.byteLength ? 1 : 0,
        tensorsTotal: 1,
        bytesDone,
        bytesTotal: info.byteLength,
      });
      yield { offset, bytes };
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }
}

/**
 * Opens a safetensors checkpoint from a `.safetensors` file, a `*.safetensors.index.json`, or a
 * folder holding either (the index wins, as in HF `from_pretrained`).
 *
 * @example
 * const ckpt = await openSafetensors('models/llama-3.2-1b');
 * for (const [name, t] of ckpt.tensors) console.log(name, t.dtype, t.shape);
 */
export async function openSafetensors(path: string): Promise<SafetensorsCheckpoint> {
  const st = await stat(path).catch((e: unknown) => {
    throw new CheckpointError(path, `cannot open (${describeError(e)})`, { hint: 'check the path' });
  });
  if (st.isDirectory()) return openSafetensors(await findInFolder(path));
  if (path.endsWith('.index.json')) return openSharded(path);
  const file = await SafetensorsFile.open(path);
  const owner = new Map([...file.tensors.keys()].map((n) => [n, file] as const));
  return new SafetensorsCheckpoint(path, [file], owner, file.tensors, file.unsupported, file.metadata);
}

async function findInFolder(dir: string): Promise<string> {
  const names = await readdir(dir);
  if (names.includes(SAFETENSORS_INDEX)) return join(dir, SAFETENSORS_INDEX);
  if (names.includes(SAFETENSORS_SINGLE)) return join(dir, SAFETENSORS_SINGLE);
  const indexes = names.filter((n) => n.endsWith('.safetensors.index.json'));
  if (indexes.length === 1) return join(dir, indexes[0]!);
  const singles = names.filter((n) => n.endsWith('.safetensors'));
  if (indexes.length === 0 && singles.length === 1) return join(dir, singles[0]!);
  throw new CheckpointError(
    dir,
    `holds no unambiguous safetensors checkpoint (found ${[...indexes, ...singles].join(', ') || 'no .safetensors files'})`,
    {
      hint: `pass the path of '${SAFETENSORS_INDEX}' or of one .safetensors file`,
    },
  );
}

async function openSharded(indexPath: string): Promise<SafetensorsCheckpoint> {
  const weightMap = await readIndex(indexPath);
  const byShard = new Map<string, string[]>();
  for (const [tensor, shard] of weightMap) {
    const list = byShard.get(shard) ?? [];
    list.push(tensor);
    byShard.set(shard, list);
  }

  const files: SafetensorsFile[] = [];
  try {
    const owner = new Map<string, SafetensorsFile>();
    const tensors = new Map<string, SafetensorsTensorInfo>();
    const unsupported = new Map<string, UnsupportedTensor>();
    for (const [shard, listed] of byShard) {
      const shardPath = join(dirname(indexPath), shard);
      await stat(shardPath).catch((e: unknown) => {
        throw new CheckpointError(
          indexPath,
          `shard '${shard}' (holding ${listed.length} tensors) cannot be opened (${describeError(e)})`,
          {
            tensor: listed[0],
            hint: 'the download is incomplete: fetch the missing shard',
          },
        );
      });
      const file = await SafetensorsFile.open(shardPath);
      files.push(file);
      for (const name of listed) {
        const info = file.tensors.get(name);
        const skipped = file.unsupported.get(name);
        if (info === undefined && skipped === undefined) {
          throw new CheckpointError(
            indexPath,
            `listed in the index under shard '${shard}', but that shard has no such tensor`,
            {
              tensor: name,
              hint: 'the index and shards come from different exports: re-download the checkpoint',
            },
          );
        }
        if (info !== undefined) {
          tensors.set(name, info);
          owner.set(name, file);
        } else unsupported.set(name, skipped!);
      }
      for (const name of [...file.tensors.keys(), ...file.unsupported.keys()]) {
        if (weightMap.get(name) !== shard) {
          throw new CheckpointError(
            shardPath,
            `present in shard '${shard}' but the index ${weightMap.has(name) ? `places it in '${weightMap.get(name)}'` : 'does not list it'}`,
            {
              tensor: name,
              hint: 'the index and shards come from different exports: re-download the checkpoint',
            },
          );
        }
      }
    }
    return new SafetensorsCheckpoint(indexPath, files, owner, tensors, unsupported, files[0]?.metadata ?? {});
  } catch (e) {
    await Promise.all(files.map((f) => f.close()));
    throw e;
  }
}

/** Reads the index's weight_map, refusing shard paths that leave the checkpoint's folder. */
async function readIndex(indexPath: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(indexPath, 'utf8');
  } catch (e) {
    throw new CheckpointError(indexPath, `cannot read (${describeError(e)})`, { hint: 'check the path' });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(indexPath, `is not valid JSON (${describeError(e)})`);
  }
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
    throw new CheckpointError(indexPath, 'has no "weight_map" object', {
      hint: 'a sharded checkpoint index maps each tensor name to its shard file',
    });
  }
  const map = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '')
      throw new CheckpointError(indexPath, `weight_map value ${JSON.stringify(shard)} is not a file name`, { tensor });
    if (isAbsolute(shard) || normalize(shard).split(sep).includes('..')) {
      throw new CheckpointError(indexPath, `shard path '${shard}' leaves the checkpoint folder`, {
        tensor,
        hint: 'shards must sit beside the index',
      });
    }
    map.set(tensor, shard);
  }
  if (map.size === 0) throw new CheckpointError(indexPath, 'weight_map is empty');
  return map;
}
