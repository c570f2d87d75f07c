/** The Llama family: config, GGUF mapping, tensor names, writers of Llama checkpoints, the runner. See ../README.md. */
export { llamaFamily, openLlamaModel } from './llama-family.js';
export { LlamaRunner, type LlamaRunnerOptions } from './llama-runner.js';
export {
  GgufAsHf,
  ggufNameToHf,
  hfNameToGguf,
  ggufToHfConfig,
  ggufToLlamaConfig,
  permuteRotaryRows,
  unpermuteRotaryRows,
} from './gguf-llama.js';
export {
  parseLlamaConfig,
  readLlamaConfig,
  SUPPORTED_MODEL_TYPES,
  type LlamaConfig,
  type RopeScaling,
} from './llama-config.js';
export { checkLlamaTensors, llamaTensorShapes } from './llama-tensors.js';
export { writeRandomLlamaCheckpoint, type RandomCheckpointOptions } from './random-checkpoint.js';
export {
  writeLlamaGguf,
  llamaGgufMetadata,
  placeholderVocabMetadata,
  type GgufMatrixType,
  type LlamaGgufOptions,
  type LlamaGgufReport,
} from './gguf-from-hf.js';
