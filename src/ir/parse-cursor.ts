/**
 * The text cursor the IR parsers share: whitespace and `#` comments skipped before every token,
 * errors as ParseError with line and column.
 */
import { DTYPES, type DType } from '../tensor/dtype.js';
import { SymParser } from './sym/parse-sym.js';
import type { Sym } from './sym/sym.js';

export class ParseError extends Error {
  constructor(src: string, pos: number, what: string) {
    const before = src.slice(0, pos);
    const line = before.split('\n').length;
    const col = pos - before.lastIndexOf('\n');
    super(`line ${line}, column ${col}: ${what}`);
    this.name = 'ParseError';
  }
}

export class Cursor {
  pos = 0;
  constructor(readonly src: string) {}

  fail(what: string): never {
    throw new ParseError(this.src, this.pos, what);
  }

  skip(): void {
    for (;;) {
      while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
      if (this.src[this.pos] === '#') {
        while (this.pos < this.src.length && this.src[this.pos] !== '\n') this.pos++;
        continue;
      }
      return;
    }
  }

  peek(s: string): boolean {
    this.skip();
    return this.src.startsWith(s, this.pos);
  }

  eat(s: string): boolean {
    if (!this.peek(s)) return false;
    this.pos += s.length;
    return true;
  }

  expect(s: string): void {
    if (!this.eat(s))
      this.fail(`expected '${s}', found '${this.src.slice(this.pos, this.pos + 12) || 'end of input'}'`);
  }

  atEnd(): boolean {
    this.skip();
    return this.pos >= this.src.length;
  }

  ident(): string {
    this.skip();
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.src.slice(this.pos, this.pos + 200));
    if (!m) this.fail(`expected a name, found '${this.src.slice(this.pos, this.pos + 12) || 'end of input'}'`);
    this.pos += m[0].length;
    return m[0];
  }

  peekIdent(): string | undefined {
    this.skip();
    return /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.src.slice(this.pos, this.pos + 200))?.[0];
  }

  int(): number {
    this.skip();
    const m = /^-?\d+/.exec(this.src.slice(this.pos, this.pos + 40));
    if (!m) this.fail('expected an integer');
    this.pos += m[0].length;
    return Number(m[0]);
  }

  sym(): Sym {
    this.skip();
    const p = new SymParser(this.src, this.pos);
    const s = p.parseExpr();
    this.pos = p.pos;
    return s;
  }

  /** Items up to `close`, separated by commas, a trailing comma allowed; `item` consumes one. */
  list<T>(close: string, item: () => T): T[] {
    const out: T[] = [];
    while (!this.eat(close)) {
      out.push(item());
      if (!this.eat(',')) {
        this.expect(close);
        break;
      }
    }
    return out;
  }

  /** A JSON string or object, found by bracket matching and handed to JSON.parse. */
  json(): unknown {
    this.skip();
    const start = this.pos;
    let depth = 0;
    let inStr = false;
    for (; this.pos < this.src.length; this.pos++) {
      const c = this.src[this.pos]!;
      if (inStr) {
        if (c === '\\') this.pos++;
        else if (c === '"') {
          inStr = false;
          if (depth === 0) {
            this.pos++;
            break;
          }
        }
        continue;
      }
      if (c === '"') inStr = true;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) {
          this.pos++;
          break;
        }
      }
      if (depth === 0 && !inStr) this.fail('expected a JSON string or object');
    }
    try {
      return JSON.parse(this.src.slice(start, this.pos));
    } catch (err) {
      this.pos = start;
      return this.fail(`bad JSON: ${(err as Error).message}`);
    }
  }
}

export function dtypeOf(c: Cursor): DType {
  const d = c.ident();
  if (!(DTYPES as readonly string[]).includes(d)) c.fail(`unknown dtype '${d}'`);
  return d as DType;
}

/** `(a, b)` or `(a,)` of symbolic dims. */
export function dims(c: Cursor): Sym[] {
  c.expect('(');
  return c.list(')', () => c.sym());
}
