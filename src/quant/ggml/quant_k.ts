import { f16Table } from './f16.ts';
import { putF16 } from './quant_32.ts';
import { scaleMinK4 } from './dequant_k.ts';

/**
 * ggml's reference K-quant quantizers (quantize_row_{q4_K,q5_K,q6_K}_ref with make_qkx2_quants and
 * make_qx_quants, no imatrix), one `fr` per C float operation: byte-equal to ggml-quants.c built
 * without fused multiply-adds, which is what llama-quantize writes without an imatrix.
 */
const fr = Math.fround;
const GROUP_MAX_EPS = 1e-15;
const TENTH = fr(0.1); // 0.1f

/** ggml's nearest_int: round half to even through the f32 add of 1.5 * 2^23 (|x| < 2^22). */
export const nearestInt = (x: number): number => fr(x + 12582912) - 12582912;

/**
 * MAX(lo, MIN(hi, l)) for nearestInt's results (never -0; NaN stays NaN): by comparisons, where Math.max and Math.min
 * (which order -0 and 0) cost Q4_K's quantizer ~15% of its time.
 */
const clamp = (l: number, lo: number, hi: number): number => (l < lo ? lo : l > hi ? hi : l);

/**
 * make_qx_quants(n, nmax, x, L, rmse_type = 1, qw = NULL): signed codes L in 0..2*nmax-1 (code - nmax),
 * scale search over 19 candidate scales -(nmax + 0.1*is)/max weighted by x^2; returns the scale.
 * A candidate whose codes equal the previous candidate's has its sums too, so the same outcome: its sums are skipped.
 */
let qxCodes = new Float64Array(16);
export function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Uint8Array, lo: number): number {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const codes = qxCodes.length >= n ? qxCodes : (qxCodes = new Float64Array(n));
  let scale = 0, best = 0;
  for (let is = -10; is <= 9; is++) { // -10: the first candidate, -nmax / max, taken whatever its sums
    if (is === 0) continue;
    const iscale = is === -10 ? fr(-nmax / max) : fr(-fr(nmax + fr(TENTH * is)) / max);
    let changed = is === -10;
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(fr(iscale * x[xo + i])), -nmax, nmax - 1);
      if (l !== codes[i]) changed = true;
      codes[i] = l;
    }
    if (!changed) continue;
    let sumlx = 0, suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i], l = codes[i];
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (is === -10 || (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2))) {
      for (let i = 0; i < n; i++) L[lo + i] = codes[i] + nmax;
      scale = is === -10 && !suml2 ? 0 : fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/**
 * make_qkx2_quants(n, nmax, x, weights, L, &min, Laux, rmin, rdelta, nstep, use_mad = false): unsigned
 * codes with a min, least-squares refit of (scale, min) over nstep+1 candidate iscales; returns
 * [scale, -min]. A candidate whose codes (and min) equal the last evaluated one's would give the same fit and error,
 * so the same outcome: its sums and error are skipped (the same bytes, ~3x faster). x - min is kept per min.
 */
let lauxBuf = new Uint8Array(32);
let xmBuf = new Float64Array(32);
export function makeQkx2Quants(
  n: number, nmax: number, x: Float32Array, xo: number, w: Float32Array, L: Uint8Array, lo: number,
  rmin: number, rdelta: number, nstep: number,
): [number, number] {
  const Laux = lauxBuf.length >= n ? lauxBuf : (lauxBuf = new Uint8Array(n));
  const xm = xmBuf.length >= n ? xmBuf : (xmBuf = new Float64Array(n));
  let min = x[xo], max = x[xo];
  let sumW = w[0], sumX = fr(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    if (x[xo + i] < min) min = x[xo + i];
    if (x[xo + i] > max) max = x[xo + i];
    sumW = fr(sumW + w[i]);
    sumX = fr(sumX + fr(w[i] * x[xo + i]));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    return [0, -min];
  }
  const setMin = (m: number) => {
    min = m;
    for (let i = 0; i < n; i++) xm[i] = fr(x[xo + i] - m);
  };
  setMin(min);
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = clamp(nearestInt(fr(iscale * xm[i])), 0, nmax);
    L[lo + i] = l;
    const diff = fr(fr(fr(scale * l) + min) - x[xo + i]);
    bestError = fr(bestError + fr(w[i] * fr(diff * diff)));
  }
  let fresh = false; // whether Laux holds the codes of the last evaluated candidate, at the current min
  for (let is = 0; is <= nstep; is++) {
    // min is the best fit so far, as in ggml (it changes the candidates that follow)
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let changed = !fresh;
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(fr(iscale * xm[i])), 0, nmax);
      if (l !== Laux[i]) changed = true;
      Laux[i] = l;
    }
    fresh = true;
    if (!changed) continue;
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Laux[i];
      const wl = fr(w[i] * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * x[xo + i]));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        const diff = fr(fr(fr(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        curError = fr(curError + fr(w[i] * fr(diff * diff)));
      }
      if (curError < bestError) {
        L.set(Laux.subarray(0, n), lo);
        bestError = curError;
        scale = thisScale;
        if (!Object.is(thisMin, min)) {
          setMin(thisMin);
          fresh = false;
        }
      }
    }
  }
  return [scale, -min];
}

/** Q4_K (nmax 15) and Q5_K (nmax 31): 8 sub-blocks of 32 with 6-bit scales and mins, f16 d and dmin. */
function quantQ45K(x: Float32Array, out: Uint8Array, nb: number, fifth: boolean): void {
  const lut = f16Table();
  const nmax = fifth ? 31 : 15, bytes = fifth ? 176 : 144, qs0 = fifth ? 48 : 16;
  const L = new Uint8Array(256), weights = new Float32Array(32);
  const scales = new Float32Array(8), mins = new Float32Array(8);
  for (let i = 0; i < nb; i++) {
    const xo = i * 256, o = i * bytes;
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[xo + 32 * j + l] * x[xo + 32 * j + l]));
      const avX = fr(Math.sqrt(fr(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = avX + Math.abs(x[xo + 32 * j + l]);
      [scales[j], mins[j]] = fifth
        ? makeQkx2Quants(32, nmax, x, xo + 32 * j, weights, L, 32 * j, -0.5, TENTH, 15)
        : makeQkx2Quants(32, nmax, x, xo + 32 * j, weights, L, 32 * j, -1, TENTH, 20);
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
    const sc = o + 4;
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(fr(invScale * scales[j])) & 255);
      const lm = Math.min(63, nearestInt(fr(invMin * mins[j])) & 255);
      if (j < 4) {
        out[sc + j] = ls;
        out[sc + j + 4] = lm;
      } else {
        out[sc + j + 4] = (ls & 15) | ((lm & 15) << 4);
        out[sc + j - 4] |= (ls >> 4) << 6;
        out[sc + j] |= (lm >> 4) << 6;
      }
    }
    putF16(out, o, fr(maxScale / 63));
    putF16(out, o + 2, fr(maxMin / 63));
    const d0 = lut[out[o] | (out[o + 1] << 8)], dmin0 = lut[out[o + 2] | (out[o + 3] << 8)];
    for (let j = 0; j < 8; j++) {
      const [s, m] = scaleMinK4(out, sc, j);
      const d = fr(d0 * s);
      if (!d) continue;
      const dm = fr(dmin0 * m);
      for (let ii = 0; ii < 32; ii++) {
        L[32 * j + ii] = Math.max(0, Math.min(nmax, nearestInt(fr(fr(x[xo + 32 * j + ii] + dm) / d))));
      }
    }
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        let l1 = L[64 * c + l], l2 = L[64 * c + l + 32];
        if (fifth && l1 > 15) {
          l1 -= 16;
          out[o + 16 + l] |= 1 << (2 * c);
        }
        if (fifth && l2 > 15) {
          l2 -= 16;
          out[o + 16 + l] |= 2 << (2 * c);
        }
        out[o + qs0 + 32 * c + l] = l1 | (l2 << 4);
      }
    }
  }
}
export const quantQ4_K = (x: Float32Array, out: Uint8Array, nb: number) => quantQ45K(x, out, nb, false);
export const quantQ5_K = (x: Float32Array, out: Uint8Array, nb: number) => quantQ45K(x, out, nb, true);

/** Q6_K: 16 sub-blocks of 16, make_qx_quants(16, 32) each, int8 scales against one f16 d = max_scale/-128. */
export function quantQ6_K(x: Float32Array, out: Uint8Array, nb: number): void {
  const lut = f16Table();
  const L = new Uint8Array(256), scales = new Float32Array(16);
  for (let i = 0; i < nb; i++) {
    const xo = i * 256, o = i * 210;
    let maxScale = 0, maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      scales[ib] = makeQxQuants(16, 32, x, xo + 16 * ib, L, 16 * ib);
      if (Math.abs(scales[ib]) > maxAbsScale) {
        maxAbsScale = Math.abs(scales[ib]);
        maxScale = scales[ib];
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue; // an all-zero block (out is zero-filled)
    const iscale = fr(-128 / maxScale);
    putF16(out, o + 208, fr(1 / iscale));
    for (let ib = 0; ib < 16; ib++) out[o + 192 + ib] = Math.min(127, nearestInt(fr(iscale * scales[ib]))) & 255;
    const d0 = lut[out[o + 208] | (out[o + 209] << 8)];
    for (let j = 0; j < 16; j++) {
      const d = fr(d0 * ((out[o + 192 + j] << 24) >> 24));
      if (!d) continue;
      for (let ii = 0; ii < 16; ii++) {
        L[16 * j + ii] = Math.max(-32, Math.min(31, nearestInt(fr(x[xo + 16 * j + ii] / d)))) + 32;
      }
    }
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h, qh = o + 128 + 32 * h, Lh = 128 * h;
      for (let l = 0; l < 32; l++) {
        const [a, b, c, e] = [L[Lh + l], L[Lh + l + 32], L[Lh + l + 64], L[Lh + l + 96]];
        out[ql + l] = (a & 15) | ((c & 15) << 4);
        out[ql + l + 32] = (b & 15) | ((e & 15) << 4);
        out[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
    }
  }
}
