/**
 * Model families by the keys a checkpoint carries: config.json `model_type` (else `architectures`)
 * and GGUF `general.architecture`. Families register from the composition root
 * (`src/register-all.ts`), so a new family is a folder under src/models/ plus one line there.
 */
import { CheckpointError, UnsupportedModelError } from '../io/errors.js';
import type { Checkpoint } from '../io/open-checkpoint.js';
import type { CheckpointIdentity, ModelFamily } from './family.js';

// Families differ in config and option types; the registry only calls them with what they opened.
// biome-ignore lint/suspicious/noExplicitAny: each family is called back only with its own OpenedModel
type AnyFamily = ModelFamily<any, any>;

const families: AnyFamily[] = [];

/** Registering the same family object again is a no-op; another family under a taken name is an error. */
export function registerModelFamily(family: AnyFamily): void {
  const taken = families.find((f) => f.name === family.name);
  if (taken === family) return;
  if (taken) throw new Error(`model family '${family.name}' is already registered`);
  families.push(family);
}

export function modelFamilies(): readonly AnyFamily[] {
  return families;
}

/** The matching keys of a checkpoint, read from its raw config or metadata. */
export function checkpointIdentity(c: Checkpoint): CheckpointIdentity {
  if (c.format === 'gguf') {
    const arch = c.gguf.metadata.get('general.architecture');
    if (typeof arch !== 'string')
      throw new CheckpointError(c.path, "has no 'general.architecture' metadata string", {
        hint: 'this GGUF file is not a model',
      });
    return { format: 'gguf', ggufArchitecture: arch, architectures: [] };
  }
  const json = (typeof c.config === 'object' && c.config !== null ? c.config : {}) as Record<string, unknown>;
  const archs = Array.isArray(json.architectures) ? json.architectures.filter((a) => typeof a === 'string') : [];
  return {
    format: 'safetensors',
    ...(typeof json.model_type === 'string' ? { modelType: json.model_type } : {}),
    architectures: archs,
  };
}

/** The family that accepts this checkpoint; an error naming every registered family if none does. */
export function familyFor(c: Checkpoint): AnyFamily {
  const id = checkpointIdentity(c);
  const found = families.find((f) => f.matches(id));
  if (found) return found;
  const source = c.format === 'gguf' ? c.path : c.configFile;
  const what =
    id.format === 'gguf'
      ? `GGUF architecture '${id.ggufArchitecture}'`
      : id.modelType !== undefined
        ? `model_type '${id.modelType}'`
        : id.architectures.length > 0
          ? `architectures ${id.architectures.join(', ')} (no model_type)`
          : 'a config.json without model_type or architectures';
  if (families.length === 0)
    throw new Error(`${source}: no model family is registered (import src/register-all.ts first)`);
  throw new UnsupportedModelError(
    source,
    `${what} belongs to no supported model family`,
    families.map((f) => `${f.name} (${f.accepts})`).join('; '),
  );
}

/** The registered family of this name (as `OpenedModel.family` names it). */
export function familyNamed(name: string): AnyFamily {
  const found = families.find((f) => f.name === name);
  if (!found) throw new Error(`model family '${name}' is not registered (import src/register-all.ts first)`);
  return found;
}
