/**
 * Import boundaries of src/: calls only go down the layers below (docs/ARCHITECTURE.md draws
 * them). Each entry may import its own layer and any layer listed before it, never one after it.
 * `npm run lint` runs this; it must report zero violations.
 *
 * Run it by hand: npx depcruise src --config .dependency-cruiser.cjs
 */

/** Lowest first. A layer is a list of path patterns (folders, or single files where a folder is split). */
const LAYERS = [
  // platform: file access, workers, the GPU entry point, for Node and browsers (the only runtime seam).
  { name: 'foundation', paths: ['src/util/', 'src/tensor/', 'src/platform/'] },
  // backend.ts, capabilities.ts: the contract every backend implements and every caller reads.
  { name: 'backend-interface', paths: ['src/backends/(?!open\\.ts$)[^/]+\\.ts$'] },
  { name: 'ops', paths: ['src/ops/'] },
  { name: 'backends', paths: ['src/backends/webgpu/', 'src/backends/cpu/'] },
  // The opener picks an implementation, so it sits above them.
  { name: 'backend-open', paths: ['src/backends/open\\.ts$'] },
  { name: 'ir', paths: ['src/ir/'] },
  { name: 'compiler', paths: ['src/compiler/'] },
  { name: 'kernels', paths: ['src/kernels/'] },
  {
    name: 'features',
    paths: [
      'src/attention/',
      'src/mcu/',
      'src/io/',
      'src/testing/',
      'src/sparse/',
      'src/lora/',
      'src/quant/',
      'src/rag/',
      'src/longctx/',
      'src/vision/',
    ],
  },
  // The engine defines the ModelRunner contract and never names a model family; models implement it.
  { name: 'engine', paths: ['src/engine/'] },
  { name: 'models', paths: ['src/models/'] },
  { name: 'server', paths: ['src/server/'] },
  // Many instances as one service (membership on NATS, routing, forwarding): over the server, under the CLI.
  { name: 'cluster', paths: ['src/cluster/'] },
  { name: 'cli', paths: ['src/cli/'] },
];

const anchored = (paths) => `^(${paths.join('|')})`;

/**
 * Modules that may import Node's built-in modules (`node:fs`, …), each with its reason. Everything
 * else reaches the runtime through src/platform/ (current.ts names Node's or the browser's
 * implementation), so the browser bundle holds no Node module.
 */
const NODE_ONLY = [
  // the platform seam's Node implementation
  'src/platform/node[^/]*\\.ts$',
  // the command line and the HTTP server run in Node only
  'src/cli/',
  'src/server/',
  'src/cluster/',
  // compile and run C for microcontrollers under QEMU, and write reports: Node tools
  'src/mcu/toolchain/',
  'src/mcu/report/',
  // writes a generated C project to disk for the toolchain above
  'src/mcu/codegen/c-project\\.ts$',
  // checkpoint writers (random test checkpoints, safetensors and GGUF export): they write files
  'src/models/[^/]+/random-checkpoint\\.ts$',
  'src/io/safetensors-writer\\.ts$',
  // random PEFT adapter folders for tests and benchmarks
  'src/lora/random-adapter\\.ts$',
  'src/io/gguf-writer\\.ts$',
  // `tessera quantize`: writes the quantized GGUF and copies the tokenizer files beside it
  'src/models/llama/quantize-checkpoint\\.ts$',
  // `tessera quantize --scheme w4a4`: writes the W4A4 safetensors folder and copies config and tokenizer
  'src/models/llama/w4a4-checkpoint\\.ts$',
  // reads sentence-transformers' modules.json synchronously inside the synchronous ModelFamily.open;
  // the browser build registers no BERT family until that read moves to the folder seam
  'src/models/bert/bert-config\\.ts$',
  // saves and loads an IVF datastore as files (the format itself is runtime-neutral: ivf-format.ts)
  'src/rag/ivf-file\\.ts$',
  // the PNG codec inflates and deflates with node:zlib (a page decodes images with createImageBitmap)
  'src/vision/png\\.ts$',
];

/** One rule per layer: nothing in it may import a later layer. */
const upwardRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `no-upward-from-${layer.name}`,
  comment: `${layer.name} may import only ${LAYERS.slice(0, i + 1)
    .map((l) => l.name)
    .join(', ')}`,
  severity: 'error',
  from: { path: anchored(layer.paths) },
  to: { path: anchored(LAYERS.slice(i + 1).flatMap((l) => l.paths)) },
}));

module.exports = {
  forbidden: [
    ...upwardRules,
    {
      name: 'every-folder-has-a-layer',
      comment: 'a new folder under src/ joins a layer in LAYERS above before its imports are checked',
      severity: 'error',
      from: { path: '^src/[^/]+/', pathNot: anchored(LAYERS.flatMap((l) => l.paths)) },
      to: { path: '^src/' },
    },
    {
      name: 'no-import-of-composition-root',
      comment:
        'src/*.ts (index, register-all) sit above every layer; only the CLI entry point may import them, to register ' +
        'feature modules before a backend runs',
      severity: 'error',
      from: { path: '^src/[^/]+/', pathNot: '^src/cli/main\\.ts$' },
      to: { path: '^src/[^/]+\\.ts$' },
    },
    {
      name: 'no-cycles-across-folders',
      comment: 'a cycle between two folders means neither is below the other',
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: { circular: true, path: '^src/', pathNot: '^src/$1/' },
    },
    {
      name: 'node-builtins-only-behind-the-platform-seam',
      comment:
        'Node built-ins (node:fs, node:worker_threads, …) are reached through src/platform/ (current.ts); the ' +
        'exceptions are listed in NODE_ONLY with their reasons',
      severity: 'error',
      from: { path: '^src/', pathNot: anchored(NODE_ONLY) },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'webgpu-package-only-in-node-platform',
      comment: "Dawn's Node binding (the webgpu package) is the Node GPU entry point; browsers use navigator.gpu",
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/platform/node[^/]*\\.ts$' },
      to: { path: 'node_modules/webgpu/' },
    },
    {
      name: 'platform-implementations-only-through-current',
      comment:
        'src/platform/current.ts names the implementation of a build (the browser bundle swaps it); importing ' +
        'node.ts or browser.ts directly would bypass that',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/platform/(current|browser-current|index)\\.ts$' },
      to: { path: '^src/platform/(node|browser)\\.ts$' },
    },
    {
      name: 'not-to-unresolvable',
      comment:
        'an import that resolves to nothing is a typo or a missing dependency (@nats-io/kv 3.x names a types file ' +
        'that does not exist, lib/mod.d.js; TypeScript finds lib/mod.d.ts through its exports, this resolver does not)',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, pathNot: '^@nats-io/kv$' },
    },
  ],
  options: {
    // TypeScript 7 has no JavaScript API, so the parser is swc; type-only imports count too.
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.d\\.ts$' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.js', '.json'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};
