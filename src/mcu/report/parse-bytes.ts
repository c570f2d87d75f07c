/** Parses SRAM sizes as users write them: 131072, 128K, 128KB, 128KiB, 0.5M (K = 1024). */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(k|kb|kib|m|mb|mib|b)?\s*$/i.exec(text);
  if (!m) throw new Error(`cannot read '${text}' as a byte size; write e.g. 131072, 128K or 0.5M`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const scale = unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1;
  const bytes = Math.round(Number(m[1]) * scale);
  if (bytes <= 0) throw new Error(`byte size must be positive, got '${text}'`);
  return bytes;
}
