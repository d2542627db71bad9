/**
 * Runs `main` when this module is the script Node was started with (`npx tsx models/<x>.ts ...`),
 * and does nothing when it is imported by tests or the bench.
 */
export function runIfMain(moduleUrl: string, main: () => Promise<void>): void {
  void (async () => {
    if (typeof process === 'undefined' || !process.argv?.[1]) return;
    const { pathToFileURL } = await import('node:url');
    const { realpathSync } = await import('node:fs');
    let isMain = false;
    try {
      isMain = moduleUrl === pathToFileURL(realpathSync(process.argv[1])).href;
    } catch {
      isMain = false;
    }
    if (!isMain) return;
    try {
      await main();
    } catch (e) {
      console.error(e instanceof Error ? e.message : String(e));
      process.exitCode = 1;
    }
  })();
}
