/**
 * A RAG datastore (`TextStore`) as a folder, so one built by `tessera rag index` is served as is:
 * `index.ivf` (the `src/rag/ivf-format.ts` file), `passages.jsonl` (one `{"id","text","source"}`
 * line per passage, id = the IVF id, in id order), `meta.json` (`{"embedder","d","nlist"}`).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type StoredPassage, type TextStore } from '../rag/index.js';
import { loadIvf, saveIvf } from '../rag/ivf-file.js';

export async function saveTextStore(dir: string, s: TextStore): Promise<void> {
  await mkdir(dir, { recursive: true });
  await saveIvf(join(dir, 'index.ivf'), s.ivf);
  await writeFile(join(dir, 'passages.jsonl'), `${s.passages.map((p) => JSON.stringify(p)).join('\n')}\n`);
  await writeFile(
    join(dir, 'meta.json'),
    `${JSON.stringify({ embedder: s.embedder, d: s.ivf.d, nlist: s.ivf.nlist }, null, 2)}\n`,
  );
}

export async function loadTextStore(dir: string): Promise<TextStore> {
  const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as { embedder: string };
  const ivf = await loadIvf(join(dir, 'index.ivf'));
  const passages = (await readFile(join(dir, 'passages.jsonl'), 'utf8'))
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as StoredPassage);
  passages.forEach((p, i) => {
    if (p.id !== i) throw new Error(`${dir}/passages.jsonl: line ${i + 1} has id ${p.id}, expected ${i}`);
  });
  if (passages.length !== ivf.ids.length)
    throw new Error(`${dir}: ${passages.length} passages but ${ivf.ids.length} vectors in index.ivf`);
  return { ivf, passages, embedder: meta.embedder };
}
