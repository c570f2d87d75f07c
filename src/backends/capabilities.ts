/**
 * The capability record of a backend, which every kernel generator and every caller choosing a
 * dtype, tile or path reads: which features were granted (after the f16 self-test), subgroup
 * sizes, subgroup-matrix shapes and the limits that bound tiles and bindings. Code outside a
 * backend learns what it may do from this record, never from which backend it holds.
 */
export interface SubgroupMatrixConfig {
  readonly componentType: string;
  readonly resultComponentType: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /**
   * For 8-bit component types (stored four to an i32 or u32): whether subgroup-matrix load and
   * store offsets and strides count the words of the array ('word') or the 8-bit components
   * ('component'). The self-test finds out which; absent for other types.
   */
  readonly packedUnits?: 'word' | 'component';
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
  /** A software rasteriser (lavapipe, SwiftShader: the adapter's `isFallbackAdapter`), slower than the CPU backend. */
  readonly software: boolean;
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
