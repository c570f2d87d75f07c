/**
 * Import boundaries of src/: calls only go down the layers below (docs/ARCHITECTURE.md draws
 * them). Each entry may import its own layer and any layer listed before it, never one after it.
 * `npm run lint` runs this; it must report zero violations.
 *
 * Run it by hand: npx depcruise src --config .dependency-cruiser.cjs
 */

/** Lowest first. A layer is a list of path patterns (folders, or single files where a folder is split). */
const LAYERS = [
  { name: 'foundation', paths: ['src/util/', 'src/tensor/'] },
  // backend.ts, capabilities.ts: the contract every backend implements and every caller reads.
  { name: 'backend-interface', paths: ['src/backends/(?!open\\.ts$)[^/]+\\.ts$'] },
  { name: 'ops', paths: ['src/ops/'] },
  { name: 'backends', paths: ['src/backends/webgpu/', 'src/backends/cpu/'] },
  // The opener picks an implementation, so it sits above them.
  { name: 'backend-open', paths: ['src/backends/open\\.ts$'] },
  { name: 'ir', paths: ['src/ir/'] },
  { name: 'compiler', paths: ['src/compiler/'] },
  { name: 'kernels', paths: ['src/kernels/'] },
  { name: 'features', paths: ['src/attention/', 'src/mcu/', 'src/io/', 'src/testing/', 'src/sparse/'] },
  // The engine defines the ModelRunner contract and never names a model family; models implement it.
  { name: 'engine', paths: ['src/engine/'] },
  { name: 'models', paths: ['src/models/'] },
  { name: 'apps', paths: ['src/server/', 'src/cli/'] },
];

const anchored = (paths) => `^(${paths.join('|')})`;

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
      name: 'not-to-unresolvable',
      comment: 'an import that resolves to nothing is a typo or a missing dependency',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
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
