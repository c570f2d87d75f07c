/**
 * The capability record every kernel generator reads: which features were granted (after the f16
 * self-test), subgroup sizes, subgroup-matrix shapes and the limits that bound tiles and bindings.
 */
export interface SubgroupMatrixConfig {
  readonly componentType: string;
  readonly resultComponentType: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
}

export interface Capabilities {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** `shader-f16` granted and passed the self-test. */
  readonly f16: boolean;
  readonly subgroups: boolean;
  readonly subgroupMinSize: number;
  readonly subgroupMaxSize: number;
  /** Subgroup-matrix configurations that passed the self-test (empty when none). */
  readonly subgroupMatrix: readonly SubgroupMatrixConfig[];
  readonly timestampQuery: boolean;
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupSizeX: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxStorageBuffersPerShaderStage: number;
  /** Why a feature the adapter offered is not used (failed self-test), one line each. */
  readonly disabled: readonly string[];
}

/** The f16×f16 subgroup-matrix configuration with an f32 (or f16) result, if any. */
export function f16MatrixConfig(caps: Capabilities, result: 'f32' | 'f16' = 'f32'): SubgroupMatrixConfig | undefined {
  return caps.subgroupMatrix.find((c) => c.componentType === 'f16' && c.resultComponentType === result && c.M === 16 && c.N === 16 && c.K === 16)
    ?? caps.subgroupMatrix.find((c) => c.componentType === 'f16' && c.resultComponentType === result);
}
