/** C literal formatting for generated arrays and structs. */

/** `static const <type> <name>[] = {…};` wrapped at ~100 columns. */
export function cArray(type: string, name: string, values: ArrayLike<number | string>): string {
  const items = Array.from(values, (v) => String(v));
  const lines: string[] = [];
  let line = ' ';
  for (const item of items) {
    if (line.length + item.length + 2 > 100) {
      lines.push(line);
      line = ' ';
    }
    line += ` ${item},`;
  }
  if (line.trim()) lines.push(line);
  // C forbids empty initializers; every array we emit has at least one element.
  if (items.length === 0) throw new Error(`array ${name} is empty`);
  return `static const ${type} ${name}[${items.length}] = {\n${lines.join('\n')}\n};\n`;
}

/** An int32 constant that stays valid C for INT32_MIN. */
export function cInt32(v: number): string {
  return v === -2147483648 ? '(-2147483647 - 1)' : String(v);
}

/** A C string literal for a step name (names are ours: letters, digits, dots). */
export function cString(s: string): string {
  return `"${s.replace(/[^A-Za-z0-9_.\-]/g, '_')}"`;
}
