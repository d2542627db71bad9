/**
 * What a load is doing. 'compile': a kernel pipeline starts compiling (while the layers are built;
 * a device that compiled them for an earlier load reports none), or, at the end of a load that
 * precompiles (LoadOptions.precompile: a CPU adapter in Node), one is compiled.
 */
export type LoadPhase = 'download' | 'parse' | 'quantize' | 'upload' | 'compile';

export interface LoadProgress {
  readonly phase: LoadPhase;
  /** 'download': bytes of `what` so far; 'compile': pipelines so far; the other phases: steps done. */
  readonly loaded: number;
  /** Bytes of the file (null when the server does not say), or the phase's steps (for 'compile': null, or the pipelines a precompile compiles). */
  readonly total: number | null;
  /** The file (its URL), or the layer or tensor being built. */
  readonly what: string;
  /** The whole load, 0 to 1, never decreasing (downloads, when there are any, are the first half). */
  readonly fraction: number;
}

/** `onProgress(fraction, what)` as before, with the event as a third argument. */
export type ProgressCallback = (fraction: number, what: string, event: LoadProgress) => void;

/** Files below this size (JSON, tokenizers) do not move the fraction: the weights do. */
const SMALL_FILE = 1 << 20;

/**
 * Turns download and build callbacks into LoadProgress events: one fraction for the whole load,
 * and downloads reported about every 1% of a file (not every network chunk, which a worker would
 * have to post to the page).
 */
export function progressReporter(cb: ProgressCallback | undefined) {
  let fraction = 0;
  let downloaded = false;
  let lastLoaded = -1;
  const emit = (phase: LoadPhase, loaded: number, total: number | null, what: string, f: number) => {
    fraction = Math.max(fraction, Math.min(1, f));
    cb?.(fraction, what, { phase, loaded, total, what, fraction });
  };
  return {
    download(loaded: number, total: number | null, url: string): void {
      if (loaded < lastLoaded) lastLoaded = -1; // a new file
      const step = total === null ? 1 << 20 : Math.max(1, total / 100);
      if (loaded !== total && lastLoaded >= 0 && loaded - lastLoaded < step) return;
      lastLoaded = loaded === total ? -1 : loaded;
      const counts = total !== null && total >= SMALL_FILE;
      if (counts) downloaded = true;
      emit('download', loaded, total, url, counts ? (0.5 * loaded) / total : fraction);
    },
    parse(what: string, done: boolean): void {
      emit('parse', done ? 1 : 0, 1, what, fraction);
    },
    /** A step of the model build (fraction f of it). */
    build(phase: LoadPhase, f: number, what: string, step: number, steps: number | null): void {
      emit(phase, step, steps, what, downloaded ? 0.5 + 0.5 * f : f);
    },
  };
}
