/** A timer that keeps no Node process alive (a watchdog, a bound on a wait); browsers' timers hold nothing. */
export function quietTimeout(fn: () => void, ms: number): ReturnType<typeof setTimeout> {
  const t = setTimeout(fn, ms);
  (t as { unref?: () => void }).unref?.();
  return t;
}

/** Resolves after ms, keeping no Node process alive: for `Promise.race` as a bound on a wait. */
export const quietSleep = (ms: number): Promise<void> => new Promise((resolve) => quietTimeout(resolve, ms));
