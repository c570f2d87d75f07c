/** File formats: checkpoints (safetensors, GGUF), config.json as JSON, tokenizers, chat templates. See README.md. */
export { CheckpointError, UnsupportedModelError } from './errors.js';
export {
  loadEach,
  type LoadProgress,
  type ProgressCallback,
  type TensorInfo,
  type TensorSource,
} from './tensor-source.js';
export { SafetensorsFile, type SafetensorsTensorInfo, type UnsupportedTensor } from './safetensors-file.js';
export { openSafetensors, SafetensorsCheckpoint } from './safetensors-checkpoint.js';
export {
  serializeSafetensors,
  writeSafetensors,
  writeSafetensorsLazily,
  type TensorToWrite,
} from './safetensors-writer.js';
export { GgufFile, type GgufOpenOptions, type GgufTensorInfo } from './gguf-file.js';
export { readGgufHeader, type GgufHeader, type GgufValue } from './gguf-header.js';
export { GGML_TYPE, READABLE_GGML_TYPES, type GgmlTypeName } from './gguf-types.js';
export { dequantizeToF32 } from './gguf-dequantize.js';
export { encodeGgml } from './gguf-quantize.js';
export {
  encodeGguf,
  encodeGgufHeader,
  writeGguf,
  writeGgufLazily,
  type GgufLayout,
  type GgufTensorLayout,
  type GgufToWrite,
  type GgufTensorToWrite,
  type GgufValueInput,
} from './gguf-writer.js';
export { ggufTokenizer } from './gguf-tokenizer.js';
export { loadTokenizer, Tokenizer, type DecodeOptions, type EncodeOptions } from './tokenizer.js';
export { ChatTemplate, type ChatMessage, type ChatTemplateOptions, type ToolCallMessagePart } from './chat-template.js';
export { StreamDecoder } from './stream-decoder.js';
export { openCheckpoint, type Checkpoint, type GgufCheckpoint, type HfCheckpoint } from './open-checkpoint.js';
export { readHfConfig, type HfConfigFile } from './hf-config.js';
