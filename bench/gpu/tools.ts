/**
 * The kernel benches for a lent GPU, bundled by bench/gpu/kit.sh (vite, bench/gpu/vite.tools.ts), since that machine
 * has no tsx or npm: `node tools.js attention|matmul|lab|fused [the bench's arguments]`.
 */
const [tool, ...args] = process.argv.slice(2);
const benches: Record<string, () => Promise<{ main(argv?: string[]): Promise<void> }>> = {
  attention: () => import('../attention.ts'),
  matmul: () => import('../matmul.ts'),
  lab: () => import('../gemv_lab.ts'),
  fused: () => import('../fused.ts'),
};
const bench = benches[tool ?? ''];
if (!bench) {
  console.error(`usage: node tools.js ${Object.keys(benches).join('|')} [arguments]`);
  process.exit(2);
}
await (await bench()).main(args);
process.exit(0);
export {};
