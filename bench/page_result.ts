/**
 * How a bench page hands its outcome to bench/browser.ts: window.__bench, set once the page's run settles
 * ({ ok, result } or { ok: false, error }), and `show` puts it on the page (`shown` turns a result into text;
 * omitted, the page has shown it already).
 */
declare global { interface Window { __bench?: { ok: true; result: unknown } | { ok: false; error: string } } }

export function reportPage<T>(run: Promise<T>, show: (text: string) => void, shown?: (result: T) => string): void {
  run.then(
    (result) => {
      if (shown) show(shown(result));
      window.__bench = { ok: true, result };
    },
    (e: unknown) => {
      show(String(e));
      window.__bench = { ok: false, error: String((e as Error)?.stack ?? e) };
    },
  );
}

/** A page's `#out` element as reportPage's `show`. */
export const showInOut = (text: string): void => {
  document.getElementById('out')!.textContent = text;
};

/** JSON as the pages print it. */
export const asJson = (result: unknown): string => JSON.stringify(result, null, 2);

/** A log whose lines accumulate in the page's `#out` element (the lines also kept, for a page's result). */
export function outLog(): { lines: string[]; log: (line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (line) => showInOut((lines.push(line), lines.join('\n'))) };
}
