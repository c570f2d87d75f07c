/**
 * PEFT's `adapter_config.json` for LoRA, validated into what the kernels run: targets, rank and the
 * scale. Every option that would change the math beyond x·Aᵀ·Bᵀ·scale (DoRA, trained biases,
 * fully fine-tuned extra modules, transposed weights, per-module ranks) is refused naming its field,
 * so an adapter is never served with silently different outputs.
 */
import { isLoraModule, LORA_MODULES, type LoraModule } from './modules.js';

export const MAX_LORA_RANK = 256;

export interface LoraConfig {
  readonly rank: number;
  readonly alpha: number;
  readonly useRslora: boolean;
  /** alpha/sqrt(r) with rsLoRA, else alpha/r (PEFT's `scaling`). */
  readonly scale: number;
  readonly targets: readonly LoraModule[];
  /** The base model the adapter was trained on, if the file says. */
  readonly baseModel: string | null;
}

export class LoraConfigError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
  ) {
    super(`'${file}': ${field}: ${problem}`);
    this.name = 'LoraConfigError';
  }
}

/** Options that must hold their neutral value; each one names what it would change. */
const NEUTRAL: readonly { field: string; ok: (v: unknown) => boolean; why: string }[] = [
  {
    field: 'use_dora',
    ok: (v) => v === undefined || v === false,
    why: 'DoRA (weight-decomposed LoRA) is not supported',
  },
  { field: 'bias', ok: (v) => v === undefined || v === 'none', why: "trained biases are not supported (only 'none')" },
  {
    field: 'modules_to_save',
    ok: (v) => v == null || (Array.isArray(v) && v.length === 0),
    why: 'fully trained extra modules are not supported',
  },
  {
    field: 'fan_in_fan_out',
    ok: (v) => v === undefined || v === false,
    why: 'transposed (Conv1D) weights are not supported',
  },
  {
    field: 'rank_pattern',
    ok: (v) => v == null || (typeof v === 'object' && Object.keys(v as object).length === 0),
    why: 'per-module ranks are not supported',
  },
  {
    field: 'alpha_pattern',
    ok: (v) => v == null || (typeof v === 'object' && Object.keys(v as object).length === 0),
    why: 'per-module alphas are not supported',
  },
  { field: 'layers_to_transform', ok: (v) => v == null, why: 'adapting a subset of layers is not supported' },
  { field: 'layer_replication', ok: (v) => v == null, why: 'layer replication is not supported' },
  { field: 'use_qalora', ok: (v) => v === undefined || v === false, why: 'QA-LoRA is not supported' },
  {
    field: 'target_parameters',
    ok: (v) => v == null || (Array.isArray(v) && v.length === 0),
    why: 'LoRA on raw parameters is not supported',
  },
];

function targetsOf(file: string, raw: unknown): LoraModule[] {
  if (raw === 'all-linear') return [...LORA_MODULES];
  if (!Array.isArray(raw) || raw.length === 0)
    throw new LoraConfigError(
      file,
      'target_modules',
      `must be a non-empty list of module names or 'all-linear' (regex strings are not supported), got ${JSON.stringify(raw)}`,
    );
  const out: LoraModule[] = [];
  for (const m of raw) {
    // PEFT matches a name by suffix, so 'self_attn.q_proj' means q_proj too
    const last = typeof m === 'string' ? m.split('.').pop()! : '';
    if (!isLoraModule(last))
      throw new LoraConfigError(file, 'target_modules', `'${String(m)}' is not one of ${LORA_MODULES.join(', ')}`);
    if (!out.includes(last)) out.push(last);
  }
  return LORA_MODULES.filter((m) => out.includes(m));
}

export function parseLoraConfig(json: unknown, file = 'adapter_config.json'): LoraConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new LoraConfigError(file, '(root)', 'must be a JSON object');
  const c = json as Record<string, unknown>;
  if (c.peft_type !== undefined && c.peft_type !== 'LORA')
    throw new LoraConfigError(file, 'peft_type', `only 'LORA' is supported, got ${JSON.stringify(c.peft_type)}`);
  for (const { field, ok, why } of NEUTRAL)
    if (!ok(c[field])) throw new LoraConfigError(file, field, `${why}, got ${JSON.stringify(c[field])}`);
  const rank = c.r;
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 1 || rank > MAX_LORA_RANK)
    throw new LoraConfigError(file, 'r', `must be an integer in 1..${MAX_LORA_RANK}, got ${JSON.stringify(rank)}`);
  const alpha = c.lora_alpha ?? 8; // PEFT's default
  if (typeof alpha !== 'number' || !Number.isFinite(alpha))
    throw new LoraConfigError(file, 'lora_alpha', `must be a finite number, got ${JSON.stringify(alpha)}`);
  const rs = c.use_rslora ?? false;
  if (typeof rs !== 'boolean')
    throw new LoraConfigError(file, 'use_rslora', `must be a boolean, got ${JSON.stringify(rs)}`);
  return {
    rank,
    alpha,
    useRslora: rs,
    scale: rs ? alpha / Math.sqrt(rank) : alpha / rank,
    targets: targetsOf(file, c.target_modules),
    baseModel: typeof c.base_model_name_or_path === 'string' ? c.base_model_name_or_path : null,
  };
}
