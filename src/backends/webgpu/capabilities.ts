/** The WebGPU side of the capability record (defined with the Backend interface). */
import type { Capabilities, SubgroupMatrixConfig } from '../capabilities.js';

export type { Capabilities, SubgroupMatrixConfig };

/** The f16×f16 subgroup-matrix configuration with an f32 (or f16) result, if any. */
export function f16MatrixConfig(caps: Capabilities, result: 'f32' | 'f16' = 'f32'): SubgroupMatrixConfig | undefined {
  return (
    caps.subgroupMatrix.find(
      (c) => c.componentType === 'f16' && c.resultComponentType === result && c.M === 16 && c.N === 16 && c.K === 16,
    ) ?? caps.subgroupMatrix.find((c) => c.componentType === 'f16' && c.resultComponentType === result)
  );
}
