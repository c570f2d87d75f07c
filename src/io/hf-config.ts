/**
 * Reads an HF `config.json` as plain JSON. Which model family it describes, and whether that family
 * can run it, is for `src/models` to decide; here only the file and its JSON syntax are checked.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError, describeError } from './errors.js';

export interface HfConfigFile {
  /** The config.json that was read (errors name it). */
  readonly file: string;
  readonly json: unknown;
}

/** `path` is a model folder (its config.json is read) or the config file itself. */
export async function readHfConfig(path: string): Promise<HfConfigFile> {
  const file = (await stat(path).catch(() => undefined))?.isDirectory() ? join(path, 'config.json') : path;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
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
