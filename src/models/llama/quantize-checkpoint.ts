/**
 * `tessera quantize`: a Llama-family HF checkpoint → a folder holding a GGUF whose matrices are
 * quantized by our ggml quantizers, which the loader keeps quantized on the device as stored
 * (quantized-weights.ts). GGUF rather than a layout of our own: the file is one that llama.cpp
 * also reads, and our loader already serves it with no conversion.
 *
 * Schemes: `w8` → Q8_0 (blocks of 32, one f16 scale, 8.5 bits per weight: near-lossless) and
 * `w4` → Q4_0 (blocks of 32, one f16 scale, 4.5 bits: half of w8's bytes, hence faster decode,
 * at a visible accuracy cost), `q4km` → llama.cpp's Q4_K_M mix (Q4_K in blocks of 256 with 6-bit
 * sub-block scales and minima, Q6_K for the LM head and some V/down projections: gguf-q4-k-m.ts), the
 * layout of the Q4_K_M files users download. A matrix whose rows are not whole blocks stays F16.
 *
 * The tokenizer files are copied beside the GGUF (the loader reads `tokenizer.json` from there),
 * `config.json` is not (a folder with one makes the loader read it as an HF checkpoint), and
 * `quantization.json` records what was written.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeLlamaGguf, type GgufMatrixType } from './gguf-from-hf.js';
import { openLlamaModel } from './llama-family.js';

export const QUANTIZE_SCHEMES = { w8: 'Q8_0', w4: 'Q4_0', q4km: 'Q4_K_M' } as const satisfies Record<
  string,
  GgufMatrixType
>;
export type QuantizeScheme = keyof typeof QUANTIZE_SCHEMES;

/** Files of an HF folder the quantized folder keeps (tokenizer and generation defaults). */
export const SIDE_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
];

export interface QuantizeReport {
  readonly file: string;
  readonly scheme: QuantizeScheme;
  /** The matrices' type, or llama.cpp's Q4_K_M mix (Q4_K and Q6_K, gguf-q4-k-m.ts). */
  readonly ggmlType: (typeof QUANTIZE_SCHEMES)[QuantizeScheme];
  readonly tensors: number;
  readonly bytes: number;
  readonly copied: readonly string[];
}

export async function quantizeLlamaCheckpoint(
  modelDir: string,
  scheme: QuantizeScheme,
  outDir: string,
  onTensor?: (name: string, index: number, total: number) => void,
): Promise<QuantizeReport> {
  const ggmlType = QUANTIZE_SCHEMES[scheme];
  if (!ggmlType) throw new Error(`unknown scheme '${scheme}' (schemes: ${Object.keys(QUANTIZE_SCHEMES).join(', ')})`);
  const model = await openLlamaModel(modelDir);
  try {
    if (model.format === 'gguf')
      throw new Error(
        `${modelDir} is a GGUF file already: serve it as it is (its Q8_0/Q4_0/Q4_K/Q6_K matrices stay quantized), or quantize the HF checkpoint it came from`,
      );
    await mkdir(outDir, { recursive: true });
    const file = join(outDir, `model.${ggmlType.toLowerCase()}.gguf`);
    const report = await writeLlamaGguf(model.weights, model.config, file, {
      type: ggmlType,
      name: basename(modelDir),
      ...(onTensor ? { onTensor } : {}),
    });
    const copied: string[] = [];
    for (const f of SIDE_FILES)
      if (existsSync(join(modelDir, f))) {
        await copyFile(join(modelDir, f), join(outDir, f));
        copied.push(f);
      }
    await writeFile(
      join(outDir, 'quantization.json'),
      JSON.stringify(
        { scheme, format: 'gguf', matrixType: ggmlType, file: basename(file), source: modelDir, bytes: report.bytes },
        null,
        2,
      ),
    );
    return { file, scheme, ggmlType, tensors: report.tensors, bytes: report.bytes, copied };
  } finally {
    await model.weights.close();
  }
}
