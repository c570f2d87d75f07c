export { decodeWeights, encodeWeights, formatOfGgmlType, ggmlTypeOf } from './codec.js';
export {
  QUANT_FORMATS,
  type QuantFormat,
  bitsPerWeight,
  isQuantFormat,
  quantLayout,
  weightBytes,
  whyShapeInvalid,
} from './formats.js';
export { type QuantMatmulAttrs, quantMatmulGeometry, quantMatmulOp } from './ops.js';
export { registerQuant } from './register.js';
export { type QuantizedWeight, uploadGgufQuantized, whyNotKeptQuantized } from './gguf-weights.js';
