/**
 * Parses the text that `Sym.toString()` prints (`3*n + floordiv(m, 2) - 1`), so printed IR can be
 * read back. Integers, variables, + − ×, parentheses, floordiv/floormod/min/max calls.
 */
import { Sym, SymError, sym } from './sym.js';

export function parseSym(src: string): Sym {
  const p = new SymParser(src, 0);
  const e = p.parseExpr();
  p.skip();
  if (p.pos < src.length)
    throw new SymError(`symbolic expression '${src}': unexpected '${src[p.pos]}' at column ${p.pos + 1}`);
  return e;
}

/** A cursor-based parser other parsers can embed (the IR parser hands it its position). */
export class SymParser {
  constructor(
    readonly src: string,
    public pos: number,
  ) {}

  skip(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }

  private fail(what: string): never {
    throw new SymError(`symbolic expression '${this.src.slice(0, 80)}': ${what} at column ${this.pos + 1}`);
  }

  private peek(): string | undefined {
    this.skip();
    return this.src[this.pos];
  }

  private expect(c: string): void {
    if (this.peek() !== c) this.fail(`expected '${c}'`);
    this.pos++;
  }

  parseExpr(): Sym {
    let e = this.parseProduct();
    for (let c = this.peek(); c === '+' || c === '-'; c = this.peek()) {
      this.pos++;
      const r = this.parseProduct();
      e = c === '+' ? e.add(r) : e.sub(r);
    }
    return e;
  }

  private parseProduct(): Sym {
    let e = this.parseUnary();
    while (this.peek() === '*') {
      this.pos++;
      e = e.mul(this.parseUnary());
    }
    return e;
  }

  private parseUnary(): Sym {
    if (this.peek() === '-') {
      this.pos++;
      return this.parseUnary().neg();
    }
    return this.parsePrimary();
  }

  private parsePrimary(): Sym {
    const c = this.peek();
    if (c === undefined) this.fail('unexpected end');
    if (c === '(') {
      this.pos++;
      const e = this.parseExpr();
      this.expect(')');
      return e;
    }
    const rest = this.src.slice(this.pos);
    const num = /^\d+/.exec(rest);
    if (num) {
      this.pos += num[0].length;
      return Sym.const(Number(num[0]));
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest);
    if (!id) this.fail(`unexpected '${c}'`);
    this.pos += id[0].length;
    const name = id[0];
    if (name === 'floordiv' || name === 'floormod' || name === 'min' || name === 'max') {
      this.expect('(');
      const a = this.parseExpr();
      this.expect(',');
      const b = this.parseExpr();
      this.expect(')');
      return name === 'floordiv'
        ? a.floorDiv(b)
        : name === 'floormod'
          ? a.floorMod(b)
          : name === 'min'
            ? a.min(b)
            : a.max(b);
    }
    return sym(name);
  }
}
