/**
 * Reads an HF `config.json` as plain JSON. Which model family it describes, and whether that family
 * can run it, is for `src/models` to decide; here only the file and its JSON syntax are checked.
 */
import type { Folder } from '../platform/byte-source.js';
import { platform } from '../platform/current.js';
import { CheckpointError, describeError } from './errors.js';

export interface HfConfigFile {
  /** The config.json that was read (errors name it). */
  readonly file: string;
  readonly json: unknown;
}

/**
 * `location` is a model folder (its config.json is read) or the config file itself: a path (or URL
 * where the platform reads URLs), or a `Folder` (`urlFolder`, `blobFolder`).
 */
export async function readHfConfig(location: string | Folder): Promise<HfConfigFile> {
  let folder: Folder | null = typeof location === 'string' ? null : location;
  let name = 'config.json';
  if (folder === null) {
    const located = await platform.locate(location as string).catch(() => null);
    folder = located?.folder ?? null;
    name = located?.file ?? name;
  }
  const file = folder?.locate(name) ?? (location as string);
  let text: string | null = null;
  try {
    text = folder === null ? null : await folder.readText(name);
    if (text === null) throw new Error('no such file');
  } catch (e) {
    throw new CheckpointError(file, `cannot read (${describeError(e)})`, {
      hint: 'a HF model folder has a config.json beside its weights',
    });
  }
  try {
    return { file, json: JSON.parse(text) };
  } catch (e) {
    throw new CheckpointError(file, `is not valid JSON (${describeError(e)})`);
  }
}
