/**
 * Whether this runs under a test runner: vitest (its VITEST variable) or a browser driven by automation. Defaults that
 * depend on timing (autotune) or take the cores test files share (precompile's helpers) are off there.
 */
export function underTestRunner(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return !!env?.VITEST || !!(globalThis as { navigator?: { webdriver?: boolean } }).navigator?.webdriver;
}
