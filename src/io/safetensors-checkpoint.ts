/**
 * A safetensors checkpoint as HF writes it: one `model.safetensors`, or shards listed by
 * `model.safetensors.index.json` (`{ metadata: { total_size }, weight_map: { tensor: shard } }`).
 * Either way callers see one flat map of tensors and read them one at a time.
 */
import type { Folder } from '../platform/byte-source.js';
import { platform } from '../platform/current.js';
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
 * folder holding either (the index wins, as in HF `from_pretrained`). A location is a path, or a
 * URL where the platform reads URLs; a `Folder` is a model's files however they are reached
 * (`urlFolder`, `blobFolder`), and `file` then names the file in it.
 *
 * @example
 * const ckpt = await openSafetensors('models/llama-3.2-1b');
 * for (const [name, t] of ckpt.tensors) console.log(name, t.dtype, t.shape);
 */
export async function openSafetensors(location: string | Folder, file?: string): Promise<SafetensorsCheckpoint> {
  let folder: Folder;
  if (typeof location === 'string') {
    const located = await platform.locate(location).catch((e: unknown) => {
      throw new CheckpointError(location, `cannot open (${describeError(e)})`, { hint: 'check the path' });
    });
    folder = located.folder;
    file ??= located.file ?? undefined;
  } else folder = location;
  const name = file ?? (await findInFolder(folder));
  if (name.endsWith('.index.json')) return openSharded(folder, name);
  const source = await folder.open(name);
  if (source === null) {
    throw new CheckpointError(folder.locate(name), 'cannot open (no such file)', { hint: 'check the path' });
  }
  const single = await SafetensorsFile.open(source);
  const owner = new Map([...single.tensors.keys()].map((n) => [n, single] as const));
  return new SafetensorsCheckpoint(source.name, [single], owner, single.tensors, single.unsupported, single.metadata);
}

/** The checkpoint's file in a folder; a folder that cannot be listed (a URL) is asked for the HF names. */
async function findInFolder(folder: Folder): Promise<string> {
  const names = await folder.list();
  if (names === null) {
    const index = await folder.readText(SAFETENSORS_INDEX);
    return index === null ? SAFETENSORS_SINGLE : SAFETENSORS_INDEX;
  }
  if (names.includes(SAFETENSORS_INDEX)) return SAFETENSORS_INDEX;
  if (names.includes(SAFETENSORS_SINGLE)) return SAFETENSORS_SINGLE;
  const indexes = names.filter((n) => n.endsWith('.safetensors.index.json'));
  if (indexes.length === 1) return indexes[0]!;
  const singles = names.filter((n) => n.endsWith('.safetensors'));
  if (indexes.length === 0 && singles.length === 1) return singles[0]!;
  throw new CheckpointError(
    folder.location,
    `holds no unambiguous safetensors checkpoint (found ${[...indexes, ...singles].join(', ') || 'no .safetensors files'})`,
    {
      hint: `pass the path of '${SAFETENSORS_INDEX}' or of one .safetensors file`,
    },
  );
}

async function openSharded(folder: Folder, indexName: string): Promise<SafetensorsCheckpoint> {
  const indexPath = folder.locate(indexName);
  const weightMap = await readIndex(folder, indexName);
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
      const shardPath = folder.locate(shard);
      const cannotOpen = (why: string) =>
        new CheckpointError(
          indexPath,
          `shard '${shard}' (holding ${listed.length} tensors) cannot be opened (${why})`,
          {
            tensor: listed[0],
            hint: 'the download is incomplete: fetch the missing shard',
          },
        );
      const source = await folder.open(shard).catch((e: unknown) => {
        throw cannotOpen(describeError(e));
      });
      if (source === null) throw cannotOpen('no such file');
      const file = await SafetensorsFile.open(source);
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

/** A shard name that would leave the checkpoint's folder (absolute, or with a '..' segment). */
const leavesFolder = (shard: string) =>
  shard.startsWith('/') ||
  /^[A-Za-z]:/.test(shard) ||
  shard.split(/[/\\]/).includes('..') ||
  /^[a-z]+:\/\//i.test(shard);

/** Reads the index's weight_map, refusing shard paths that leave the checkpoint's folder. */
async function readIndex(folder: Folder, indexName: string): Promise<Map<string, string>> {
  const indexPath = folder.locate(indexName);
  let text: string | null;
  try {
    text = await folder.readText(indexName);
  } catch (e) {
    throw new CheckpointError(indexPath, `cannot read (${describeError(e)})`, { hint: 'check the path' });
  }
  if (text === null) throw new CheckpointError(indexPath, 'cannot read (no such file)', { hint: 'check the path' });
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
    if (leavesFolder(shard)) {
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
