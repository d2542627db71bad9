// comlink ships this module's types as node-adapter.d.ts beside node-adapter.mjs; the import keeps
// the .mjs extension so that Node resolves it once bundled with comlink external.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  export { default } from 'comlink/dist/esm/node-adapter';
}
