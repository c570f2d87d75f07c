/**
 * Grammar-constrained decoding through `@mlc-ai/web-xgrammar` (WASM): JSON mode, JSON schema
 * and forced tool calls become a TokenConstraint per completion, whose bitmask the sampler applies.
 *
 * The package is a UMD bundle that, under Node's ESM loader, reaches for CommonJS `require` and
 * `__filename` (to locate itself) and registers its exports on `globalThis.xgrammar`. In Node we
 * provide those two globals (the platform's `commonJsShims`) while it loads and initializes its
 * WASM, then remove them again. In the browser bundle, esbuild wraps it as a CommonJS module whose
 * exports come back from the import instead, in a chunk loaded on the first structured request.
 * Schemas are checked with Ajv first: xgrammar aborts its WASM instance on schemas it cannot read.
 */
import { Ajv } from 'ajv';
import { platform } from '../platform/index.js';
import type { TokenConstraint } from '../engine/token-constraint.js';
import type { EngineTokenizer } from '../engine/tokenizer.js';
import { ApiError } from './errors.js';

interface Disposable {
  dispose(): void;
}
interface XgMatcher extends Disposable {
  getNextTokenBitmask(): Promise<Int32Array>;
  acceptToken(token: number): boolean;
  isTerminated(): boolean;
}
interface XgCompiler extends Disposable {
  compileJSONSchema(
    schema: string,
    anyWhitespace?: boolean,
    indent?: number,
    separators?: [string, string],
    strictMode?: boolean,
  ): Promise<Disposable>;
  compileBuiltinJSONGrammar(): Promise<Disposable>;
}
interface XGrammar {
  TokenizerInfo: {
    createTokenizerInfo(
      vocab: string[],
      type: string,
      prependSpace: boolean,
      vocabSize: number,
      stopTokenIds: number[],
    ): Promise<Disposable>;
  };
  GrammarCompiler: { createGrammarCompiler(info: Disposable, cacheEnabled?: boolean): Promise<XgCompiler> };
  GrammarMatcher: { createGrammarMatcher(compiled: Disposable): Promise<XgMatcher> };
}

export type ConstraintFactory = () => Promise<TokenConstraint>;

const MAX_CACHED_GRAMMARS = 64;

export class GrammarService {
  private readonly compiled = new Map<string, Promise<Disposable>>();
  private readonly ajv = new Ajv({ strict: false, allErrors: false, validateSchema: true });

  private constructor(
    private readonly xg: XGrammar,
    private readonly compiler: XgCompiler,
  ) {}

  /** Loads xgrammar and indexes the vocabulary (a few ms for small vocabularies, ~1 s for 128k). */
  static async create(tokenizer: EngineTokenizer, vocabSize: number): Promise<GrammarService> {
    const xg = await loadXGrammar();
    const { tokens, type } = tokenizer.vocabulary();
    const info = await xg.TokenizerInfo.createTokenizerInfo(tokens, type, false, vocabSize, [
      ...tokenizer.stopTokenIds,
    ]);
    const compiler = await xg.GrammarCompiler.createGrammarCompiler(info, true);
    return new GrammarService(xg, compiler);
  }

  /** Any JSON object (`response_format: json_object`). */
  jsonObject(): Promise<ConstraintFactory> {
    // Not strict: an object with any properties (strict mode would allow only `{}`).
    return this.factory('json_object', () =>
      this.compiler.compileJSONSchema(JSON.stringify({ type: 'object' }), false, -1, undefined, false),
    );
  }

  /** JSON matching `schema`; a schema that is not valid JSON Schema is a 400 naming `param`. */
  jsonSchema(
    schema: Record<string, unknown>,
    param = 'response_format.json_schema.schema',
  ): Promise<ConstraintFactory> {
    try {
      this.ajv.compile(schema);
    } catch (e) {
      throw new ApiError(
        400,
        `Invalid JSON schema: ${(e as Error).message}`,
        'invalid_request_error',
        param,
        'invalid_json_schema',
      );
    }
    const text = JSON.stringify(schema);
    return this.factory(`schema:${text}`, () => this.compiler.compileJSONSchema(text, false, -1));
  }

  /** Whether `value` satisfies `schema` (to check tool-call arguments and for tests). */
  validates(schema: Record<string, unknown>, value: unknown): boolean {
    return this.ajv.validate(schema, value);
  }

  private async factory(key: string, compile: () => Promise<Disposable>): Promise<ConstraintFactory> {
    let entry = this.compiled.get(key);
    if (!entry) {
      entry = compile();
      this.compiled.set(key, entry);
      entry.catch(() => this.compiled.delete(key));
      if (this.compiled.size > MAX_CACHED_GRAMMARS) {
        // Matchers keep their own reference to the compiled grammar, so the evicted handle can go.
        const [oldKey, old] = this.compiled.entries().next().value!;
        this.compiled.delete(oldKey);
        old.then(
          (g) => g.dispose(),
          () => {},
        );
      }
    } else {
      // Refresh recency.
      this.compiled.delete(key);
      this.compiled.set(key, entry);
    }
    let grammar: Disposable;
    try {
      grammar = await entry;
    } catch (e) {
      throw new ApiError(
        400,
        `The grammar could not be compiled: ${(e as Error).message}`,
        'invalid_request_error',
        'response_format',
        'invalid_json_schema',
      );
    }
    return async () => new XGrammarConstraint(await this.xg.GrammarMatcher.createGrammarMatcher(grammar));
  }
}

class XGrammarConstraint implements TokenConstraint {
  constructor(private readonly matcher: XgMatcher) {}
  nextMask(): Promise<Int32Array> {
    return this.matcher.getNextTokenBitmask();
  }
  accept(token: number): boolean {
    return this.matcher.acceptToken(token);
  }
  isTerminated(): boolean {
    return this.matcher.isTerminated();
  }
  dispose(): void {
    this.matcher.dispose();
  }
}

let loading: Promise<XGrammar> | null = null;

function loadXGrammar(): Promise<XGrammar> {
  loading ??= (async () => {
    const g = globalThis as Record<string, unknown>;
    const added: string[] = [];
    for (const [name, value] of Object.entries(await platform.commonJsShims('@mlc-ai/web-xgrammar'))) {
      if (g[name] === undefined) {
        g[name] = value;
        added.push(name);
      }
    }
    try {
      const mod = (await import('@mlc-ai/web-xgrammar')) as { default?: XGrammar } & Partial<XGrammar>;
      const xg = (g.xgrammar ?? (mod.GrammarCompiler ? mod : mod.default)) as XGrammar | undefined;
      if (!xg?.GrammarCompiler) throw new Error('@mlc-ai/web-xgrammar did not register globalThis.xgrammar');
      // The WASM module instantiates on first use, which still needs the shims: do that now.
      (await xg.TokenizerInfo.createTokenizerInfo(['a'], 'raw', false, 1, [0])).dispose();
      return xg;
    } finally {
      for (const name of added) delete g[name];
    }
  })();
  return loading;
}
