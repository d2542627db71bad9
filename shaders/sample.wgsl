// Picks the next token on the GPU so only one u32 is read back per step.
// First, in place on the logits (the LM head rewrites them every step): logit_bias is added, then the
// penalties of the tokens seen in this request (the `seen` list):
//  - repetition: a token of the prompt or generated so far has its logit divided by the penalty when
//    positive, multiplied when not (llama.cpp / transformers);
//  - presence and frequency (OpenAI): logit -= presence * (count > 0) + frequency * count, where count is
//    how often the token was generated in this request (the prompt does not count).
// Only ids below p.n_valid are ever chosen (padded embedding rows past the tokenizer are masked).
// temperature == 0: argmax (lowest index on ties, as llama.cpp's greedy sampler).
// Otherwise: z = logits / temperature; keep the tokens with z >= tau, where tau is the largest of
//  - the top-k threshold: the largest tau with count(z >= tau) >= k (bisection),
//  - the min-p threshold: zmax + log(min_p), i.e. p >= min_p * p_max (after temperature, as transformers), and
//  - the top-p threshold: the largest tau with mass(z >= tau) >= top_p (bisection),
// then draw from the renormalised kept set with step.uniform_rand (drawn on the CPU from a seeded
// generator), walking the vocabulary in index order. With top-k on, only the top-k bisection passes over the
// vocabulary; top-p and the draw run on the k candidates.
// With step.masked set, a token whose bit in `allowed` is clear (a grammar rules it out) has its logit set to MASKED
// after the penalties: it is never kept, and the range the thresholds are looked for in is the allowed tokens'.
// Finally, with step.record set, the chosen token's count goes up (joining `seen` when new).
// A logit that is NaN or infinite (none can be: logit_bias is finite, so the weights or activations went wrong) makes
// the result NONFINITE, not a token: the engine ends the request with an error rather than emit what argmax made of it.
// Two entry points: `part`, n_parts workgroups, each adjusts the logits it owns and finds its chunk's max (lowest index
// on ties) and min; then `main`, one workgroup, takes those and does the rest. Greedy decode is then a pass over the
// vocabulary spread over the device, not one workgroup's (a lent H200: ~0.19 ms a token for Llama-3.2-1B's 128,256).
override WG: u32 = 256;
const ITERS: u32 = 32u;
const PROMPT_BIT: u32 = 0x80000000u;
const NONFINITE: u32 = 0xFFFFFFFFu; // the result where a logit is NaN or infinite (src/kernels/sample.ts)
// A ruled-out token's logit: finite (so not NONFINITE) and below any real one, even divided by a small temperature.
const MASKED: f32 = -1e30;
const LOGPROBS_CAP: u32 = 20u; // the most alternatives `logprobs` reports (OpenAI's top_logprobs)

struct Params {
  n_valid: u32, // ids below it can be sampled: the tokenizer's vocabulary (<= the logits' rows)
  seen_cap: u32, // ids the seen list holds at most (the logits' rows: every id once)
  n_parts: u32, // workgroups of `part`
  pad1: u32,
}

struct Bias {
  id: u32,
  value: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> logits: array<f32>; // (vocab): bias and penalties applied in place
@group(0) @binding(3) var<storage, read_write> result: array<u32>; // (1): the chosen id
// Per request, reset by `mark`: bit 31 = in the prompt, bits 0..30 = times generated.
@group(0) @binding(4) var<storage, read_write> counts: array<u32>; // (vocab)
@group(0) @binding(5) var<storage, read_write> seen: array<u32>; // (1 + seen_cap): [n, ids whose count is not 0]
@group(0) @binding(6) var<storage, read> bias: array<Bias>; // (bias capacity): the first step.n_bias are used
@group(0) @binding(7) var<storage, read_write> parts: array<vec4<u32>>; // (n_parts): a chunk's max (f32 bits), its id, min (bits), 1 if a logit is not finite
@group(0) @binding(8) var<storage, read> allowed: array<u32>; // (ceil(vocab / 32)): bit i % 32 of word i / 32 = token i may be chosen
// (2 + 2 * LOGPROBS_CAP): [the chosen token's log-probability (f32 bits), k, then k (id, log-probability bits)]
@group(0) @binding(9) var<storage, read_write> lp: array<u32>;

var<workgroup> red_f: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;
var<workgroup> red_g: array<f32, WG>;
var<workgroup> nonfinite: atomic<u32>;

// Top-k candidates (index, z), filled through an atomic counter in no particular order.
const CAP: u32 = 256u;
var<workgroup> n_cand: atomic<u32>;
var<workgroup> cand_i: array<u32, CAP>;
var<workgroup> cand_z: array<f32, CAP>;

// Invocation 0 alone: top-p on the candidates (sorted by z, descending: the smallest prefix whose
// mass reaches top_p of the whole distribution's), then the draw over the kept ones in index order.
fn draw_candidates(count: u32, total: f32, zmax: f32, argmax: u32) -> u32 {
  // insertion sort by z descending (count <= CAP, usually k = 40)
  for (var a = 1u; a < count; a++) {
    let zi = cand_z[a];
    let ii = cand_i[a];
    var b = a;
    while (b > 0u && cand_z[b - 1u] < zi) {
      cand_z[b] = cand_z[b - 1u];
      cand_i[b] = cand_i[b - 1u];
      b--;
    }
    cand_z[b] = zi;
    cand_i[b] = ii;
  }
  var kept = count;
  if (step.top_p < 1.0) {
    var acc = 0.0;
    for (var a = 0u; a < count; a++) {
      acc += exp(cand_z[a] - zmax);
      if (acc >= step.top_p * total) {
        // keep everything with z >= this one's (ties included), as the threshold rule does
        var e = a + 1u;
        while (e < count && cand_z[e] >= cand_z[a]) { e++; }
        kept = e;
        break;
      }
    }
  }
  // the kept ones back into index order, for the same walk as the full path
  for (var a = 1u; a < kept; a++) {
    let zi = cand_z[a];
    let ii = cand_i[a];
    var b = a;
    while (b > 0u && cand_i[b - 1u] > ii) {
      cand_z[b] = cand_z[b - 1u];
      cand_i[b] = cand_i[b - 1u];
      b--;
    }
    cand_z[b] = zi;
    cand_i[b] = ii;
  }
  var mass = 0.0;
  for (var a = 0u; a < kept; a++) { mass += exp(cand_z[a] - zmax); }
  let goal = step.uniform_rand * mass;
  var acc = 0.0;
  for (var a = 0u; a < kept; a++) {
    acc += exp(cand_z[a] - zmax);
    if (acc > goal) { return cand_i[a]; }
  }
  return argmax; // rounding can leave the goal just past the kept mass
}

fn sum_f(lid: u32, v: f32) -> f32 {
  workgroupBarrier();
  red_f[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) { red_f[lid] += red_f[lid + s]; }
    workgroupBarrier();
  }
  return red_f[0];
}

fn sum_u(lid: u32, v: u32) -> u32 {
  workgroupBarrier();
  red_u[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) { red_u[lid] += red_u[lid + s]; }
    workgroupBarrier();
  }
  return red_u[0];
}

// Workgroup g of `part` owns the logits of its chunk, and the last one those past n_valid too.
fn owner(id: u32, chunk: u32) -> u32 {
  return min(id / chunk, p.n_parts - 1u);
}

// logit_bias, then the penalties, in place, on the ids workgroup g owns. Each id appears once in `bias` and once in
// `seen`, so no two invocations write one logit at the same time; the barriers order the bias before the penalties.
fn adjust_logits(lid: u32, g: u32, chunk: u32) {
  if (step.n_bias > 0u) {
    for (var j = lid; j < step.n_bias; j += WG) {
      let b = bias[j];
      if (owner(b.id, chunk) == g) { logits[b.id] += b.value; }
    }
    storageBarrier();
  }
  let rp = step.repetition_penalty;
  if (rp != 1.0 || step.presence_penalty != 0.0 || step.frequency_penalty != 0.0) {
    let n_seen = min(seen[0], p.seen_cap);
    for (var j = lid; j < n_seen; j += WG) {
      let id = seen[1u + j];
      if (owner(id, chunk) != g) { continue; }
      let generated = counts[id] & ~PROMPT_BIT;
      var l = logits[id];
      l = select(l * rp, l / rp, l > 0.0); // every listed id was seen: in the prompt or generated
      l -= step.presence_penalty * f32(generated > 0u) + step.frequency_penalty * f32(generated);
      logits[id] = l;
    }
    storageBarrier();
  }
}

// Invocation 0 alone: writes the chosen id and, when it is a generated token, counts it.
fn finish(id: u32) {
  result[0] = id;
  if (step.record == 0u) { return; }
  let c = counts[id];
  counts[id] = c + 1u;
  let n_seen = seen[0];
  if (c == 0u && n_seen < p.seen_cap) {
    seen[1u + n_seen] = id;
    seen[0] = n_seen + 1u;
  }
}

// Start of a request: counts were cleared and `seen` holds the prompt's distinct ids; flag them.
@compute @workgroup_size(WG)
fn mark(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x < min(seen[0], p.seen_cap)) { counts[seen[1u + gid.x]] = PROMPT_BIT; }
}

// Max (lowest index on ties) and min of the lanes' (best, best_i, worst) through workgroup memory: every lane gets them.
struct Extremes {
  best: f32,
  best_i: u32,
  worst: f32,
}

fn reduce_extremes(lid: u32, best: f32, best_i: u32, worst: f32) -> Extremes {
  red_f[lid] = best;
  red_u[lid] = best_i;
  red_g[lid] = worst;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (lid < s) {
      let o = red_f[lid + s];
      let oi = red_u[lid + s];
      if (o > red_f[lid] || (o == red_f[lid] && oi < red_u[lid])) { red_f[lid] = o; red_u[lid] = oi; }
      red_g[lid] = min(red_g[lid], red_g[lid + s]);
    }
    workgroupBarrier();
  }
  return Extremes(red_f[0], red_u[0], red_g[0]);
}

// Workgroup g: the logits it owns adjusted, then its chunk's extremes into parts[g].
@compute @workgroup_size(WG)
fn part(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let chunk = (p.n_valid + p.n_parts - 1u) / p.n_parts;
  adjust_logits(lid, wg.x, chunk);
  let lo = wg.x * chunk;
  let hi = min(p.n_valid, lo + chunk);
  var best = -3.4e38;
  var best_i = 0u;
  var worst = 3.4e38;
  var bad = false;
  let masked = step.masked != 0u; // read once: a CPU adapter loads a uniform lane by lane
  for (var i = lo + lid; i < hi; i += WG) {
    let v = logits[i];
    if (masked && ((allowed[i >> 5u] >> (i & 31u)) & 1u) == 0u) {
      logits[i] = MASKED;
      continue; // neither the max nor the min: the thresholds stay among the allowed tokens
    }
    if (v > best) { best = v; best_i = i; }
    worst = min(worst, v);
    bad = bad || (bitcast<u32>(v) & 0x7FFFFFFFu) >= 0x7F800000u; // by bits: a compiler may assume no NaN
  }
  if (bad) { atomicStore(&nonfinite, 1u); }
  let e = reduce_extremes(lid, best, best_i, worst); // its barriers order the store before the load
  if (lid == 0u) { parts[wg.x] = vec4<u32>(bitcast<u32>(e.best), e.best_i, bitcast<u32>(e.worst), atomicLoad(&nonfinite)); }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let n = p.n_valid;
  let temp = step.temperature;
  // max (and argmax) of z (z = logits when greedy) from the parts, in index order per lane
  var best = -3.4e38;
  var best_i = 0u;
  var worst = 3.4e38;
  for (var i = lid; i < p.n_parts; i += WG) {
    let q = parts[i];
    let v = bitcast<f32>(q.x);
    if (v > best) { best = v; best_i = q.y; }
    worst = min(worst, bitcast<f32>(q.z));
    if (q.w != 0u) { atomicStore(&nonfinite, 1u); }
  }
  let e = reduce_extremes(lid, best, best_i, worst);
  if (workgroupUniformLoad(&nonfinite) != 0u) {
    if (lid == 0u) { result[0] = NONFINITE; } // nothing counted: no token was chosen
    return;
  }
  let lmax = e.best;
  let lmin = e.worst;
  let argmax = e.best_i;
  if (temp <= 0.0) {
    if (lid == 0u) { finish(argmax); }
    return;
  }
  let zmax = lmax / temp;
  let zmin = lmin / temp;

  var tau = zmin;
  if (step.top_k > 0u && step.top_k < n) {
    var lo = zmin; // count(z >= lo) = n >= k
    var hi = zmax + 1.0; // count = 0 < k
    for (var it = 0u; it < ITERS; it++) {
      let mid = 0.5 * (lo + hi);
      var c = 0u;
      for (var i = lid; i < n; i += WG) { c += select(0u, 1u, logits[i] / temp >= mid); }
      if (sum_u(lid, c) >= step.top_k) { lo = mid; } else { hi = mid; }
    }
    tau = max(tau, lo);
  }
  // min-p before the candidates are collected: its kept set is a prefix of top-k's (by z), so the
  // candidates path stays exact and holds fewer tokens.
  if (step.min_p > 0.0) { tau = max(tau, zmax + log(step.min_p)); }
  var total = 0.0;
  for (var i = lid; i < n; i += WG) { total += exp(logits[i] / temp - zmax); }
  total = sum_f(lid, total);

  // With top-k on (k <= CAP), the kept set lies among the z >= tau candidates: collect them and do
  // top-p and the draw on those alone, exactly (sorted), instead of more passes over the vocabulary.
  if (step.top_k > 0u && step.top_k <= CAP) {
    if (lid == 0u) { atomicStore(&n_cand, 0u); }
    workgroupBarrier();
    for (var i = lid; i < n; i += WG) {
      let z = logits[i] / temp;
      if (z >= tau) {
        let slot = atomicAdd(&n_cand, 1u);
        if (slot < CAP) { cand_i[slot] = i; cand_z[slot] = z; }
      }
    }
    let count = workgroupUniformLoad(&n_cand);
    if (count <= CAP) {
      if (lid == 0u) { finish(draw_candidates(count, total, zmax, argmax)); }
      return;
    }
    // More ties at the threshold than slots: fall through to the passes over the vocabulary.
  }
  if (step.top_p < 1.0) {
    var lo = zmin; // mass(z >= lo) = 1 >= top_p
    var hi = zmax; // mass(z >= zmax) > 0: checked first below
    var m = 0.0;
    for (var i = lid; i < n; i += WG) { let z = logits[i] / temp; if (z >= hi) { m += exp(z - zmax); } }
    if (sum_f(lid, m) >= step.top_p * total) { lo = hi; }
    for (var it = 0u; it < ITERS; it++) {
      let mid = 0.5 * (lo + hi);
      var mm = 0.0;
      for (var i = lid; i < n; i += WG) { let z = logits[i] / temp; if (z >= mid) { mm += exp(z - zmax); } }
      if (sum_f(lid, mm) >= step.top_p * total) { lo = mid; } else { hi = mid; }
    }
    tau = max(tau, lo);
  }
  // Mass of the kept set, per contiguous chunk of the vocabulary owned by each invocation.
  let chunk = (n + WG - 1u) / WG;
  let start = lid * chunk;
  let end = min(n, start + chunk);
  var mine = 0.0;
  for (var i = start; i < end; i++) { let z = logits[i] / temp; if (z >= tau) { mine += exp(z - zmax); } }
  workgroupBarrier();
  red_g[lid] = mine;
  workgroupBarrier();
  if (lid == 0u) {
    var kept = 0.0;
    for (var i = 0u; i < WG; i++) { kept += red_g[i]; }
    let goal = step.uniform_rand * kept;
    var acc = 0.0;
    var chosen = argmax; // fallback: rounding can leave the goal just past the kept mass
    var found = false;
    for (var c = 0u; c < WG && !found; c++) {
      if (acc + red_g[c] > goal) {
        let s0 = c * chunk;
        let e0 = min(n, s0 + chunk);
        for (var i = s0; i < e0; i++) {
          let z = logits[i] / temp;
          if (z >= tau) {
            acc += exp(z - zmax);
            if (acc > goal) { chosen = i; found = true; break; }
          }
        }
        break;
      }
      acc += red_g[c];
    }
    finish(chosen);
  }
}

// After `main`, where step.logprobs = 1 + k is set: the chosen token's log-probability and the k likeliest tokens'
// (ids, log-probabilities, likeliest first, lower id on ties), under the softmax of the logits as `part` left them
// (bias, penalties, mask; before temperature and truncation). Masked tokens are never among the k.
@compute @workgroup_size(WG)
fn logprobs(@builtin(local_invocation_index) lid: u32) {
  let n = p.n_valid;
  var m = -3.4e38;
  for (var i = lid; i < n; i += WG) { m = max(m, logits[i]); }
  m = reduce_extremes(lid, m, 0u, 0.0).best;
  var total = 0.0;
  for (var i = lid; i < n; i += WG) { total += exp(logits[i] - m); }
  let lse = m + log(sum_f(lid, total));
  let k = min(step.logprobs - 1u, LOGPROBS_CAP);
  var prev = 3.4e38;
  var prev_i = 0u;
  var found = 0u;
  for (var j = 0u; j < k; j++) {
    // the largest (logit, lowest id) that comes after the previous one in that order
    var best = -3.4e38;
    var best_i = 0u;
    for (var i = lid; i < n; i += WG) {
      let v = logits[i];
      let after = j == 0u || v < prev || (v == prev && i > prev_i);
      if (after && (v > best || (v == best && i < best_i))) { best = v; best_i = i; }
    }
    workgroupBarrier(); // the last round's results are read by every lane before they are overwritten
    let e = reduce_extremes(lid, best, best_i, 0.0);
    if (e.best > MASKED) { // else fewer tokens than k are allowed: the rest are left out (no break: barriers follow)
      if (lid == 0u) {
        lp[2u + 2u * j] = e.best_i;
        lp[3u + 2u * j] = bitcast<u32>(e.best - lse);
      }
      found = j + 1u;
    }
    prev = e.best;
    prev_i = e.best_i;
  }
  if (lid == 0u) {
    let chosen = result[0];
    lp[0] = select(0x7FC00000u, bitcast<u32>(logits[min(chosen, n - 1u)] - lse), chosen < n); // NaN where none was chosen
    lp[1] = found;
  }
}
