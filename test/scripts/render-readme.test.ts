import { describe, expect, it } from 'vitest';
import { currentResults, type ResultFile, type ResultRow } from '../../scripts/render-readme.js';

const row = (anchorName: string | null): ResultRow => ({
  case: 'c',
  metric: 'output tokens/s',
  ours: 1,
  anchor: anchorName ? 1 : null,
  anchorName,
  ratio: anchorName ? 1 : null,
});
const file = (name: string, bench: string, date: string, peer: string | null): ResultFile => ({
  file: name,
  bench,
  card: 'NVIDIA H100 80GB HBM3',
  date,
  commit: 'x',
  notes: '',
  checks: ['ok'],
  rows: [row(null), row(peer)],
});

describe('currentResults', () => {
  it('keeps the newest file per bench and card, the last name on one date', () => {
    const cur = currentResults([
      file('decode-a.json', 'decode', '2026-12-07', 'PyTorch compiled'),
      file('decode-b.json', 'decode', '2026-12-07', 'llama.cpp v1'),
      file('decode-c.json', 'decode', '2026-12-06', 'PyTorch compiled'),
    ]);
    expect(cur.map((f) => f.file)).toEqual(['decode-b.json']);
  });

  it('keeps one serving file per peer, so a run beside one peer does not hide the other', () => {
    const cur = currentResults([
      file('serve-a.json', 'serve-llama3-8b', '2026-12-07', 'transformers 5.17.0 continuous batching'),
      file('serve-b.json', 'serve-llama3-8b', '2026-12-07', 'llama.cpp v0.4.0'),
      file('serve-c.json', 'serve-llama3-8b', '2026-12-06', 'transformers 5.17.0'),
      // the newest of its peer, but of an older date than the bench's newest: history
      file('serve-d.json', 'serve-llama3-8b', '2026-11-26', 'HF static batching'),
    ]);
    expect(cur.map((f) => f.file).sort()).toEqual(['serve-a.json', 'serve-b.json']);
  });
});
