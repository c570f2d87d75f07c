/** Builds the CPU kernels' .wasm (see build-cpu-wasm.mjs); returns its path. */
export function buildCpuWasm(options?: { ifStale?: boolean }): Promise<string>;
