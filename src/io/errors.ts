/**
 * Typed, actionable errors for everything `src/io` reads.
 *
 * A checkpoint is user input: every malformed byte must end in one of these, naming the file
 * (and the tensor, when there is one) and saying what to do — never a RangeError from deep
 * inside a parser, a hang, or an attempt to allocate what a corrupt header claims.
 */
export class CheckpointError extends Error {
  readonly file: string;
  readonly tensor: string | undefined;
  readonly hint: string;

  constructor(file: string, problem: string, options: { tensor?: string; hint?: string; cause?: unknown } = {}) {
    const where = options.tensor === undefined ? `'${file}'` : `'${file}', tensor '${options.tensor}'`;
    const hint = options.hint ?? 'the file is malformed or truncated: re-download or re-export it';
    super(`${where}: ${problem}\n  → ${hint}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.file = file;
    this.tensor = options.tensor;
    this.hint = hint;
  }
}

/** A model configuration that is valid JSON but names a model or option Tessera does not support. */
export class UnsupportedModelError extends Error {
  readonly file: string;
  constructor(file: string, problem: string, supported: string) {
    super(`'${file}': ${problem}\n  → supported: ${supported}`);
    this.name = new.target.name;
    this.file = file;
  }
}

/** Describes an unknown thrown value for a wrapped error message. */
export function describeError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
