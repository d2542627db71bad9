// A mixture of experts' routing and its output (src/kernels/moe.ts). route: each token's router logits to the experts it
// takes and their weights: the `slots` largest logits, weighed by the softmax over all of them; or (SIGMOID, LFM2-MoE)
// the `slots` largest of each logit's sigmoid plus the expert's selection bias, weighed by the sigmoids alone; the
// chosen weights renormalised where NORM_TOPK; the expert GEMVs (shaders/matmul_experts.wgsl) then run a row per token's slot. group (the prefill's): the
// pass's slots sorted by expert into runs of whole tiles for the expert GEMM (shaders/matmul_experts_grouped.wgsl).
// combine: the slots' outputs weighted and added into the residual stream.
override WG: u32 = 64;
override NORM_TOPK: bool = true; // the chosen weights divided by their sum (Qwen3-MoE's norm_topk_prob, Mixtral)
override SIGMOID: bool = false; // scores by sigmoid, chosen with the bias (else the softmax's order: the logits')
override EXPERTS_MAX: u32 = 1; // group: the mixture's experts (its workgroup arrays)

struct Params {
  experts: u32, // router logits per token
  slots: u32, // experts a token takes (top-k), at most MAX_SLOTS
  width: u32, // combine: the residual row (D)
  scale: f32, // combine: multiplies the sum before it is added (Granite's residual multiplier), else 1
  tile: u32, // group: slots of one expert a tile of the GEMM takes (EXPERT_TILE)
  tiles: u32, // group: the tiles its output has room for; the slot order follows them
  pad0: u32,
  pad1: u32,
}

const MAX_SLOTS: u32 = 16u;

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;

// route's bindings
@group(0) @binding(2) var<storage, read> logits: array<f32>; // (T, experts): the router's
@group(0) @binding(3) var<storage, read_write> ids: array<u32>; // (T, slots): the chosen experts, largest first
@group(0) @binding(4) var<storage, read_write> weights: array<f32>; // (T, slots): their weights
@group(0) @binding(10) var<storage, read> bias: array<f32>; // (experts): added to the sigmoids to choose (zeros where none)

fn sigmoid(l: f32) -> f32 { return 1.0 / (1.0 + exp(-l)); }

// What an expert is chosen by: its logit (softmax keeps their order), or its sigmoid plus its bias.
fn choice_score(l: f32, e: u32) -> f32 { return select(l, sigmoid(l) + bias[e], SIGMOID); }

// One token a lane: the slots' experts by repeated maxima over the scores (the lowest index among equals), their
// softmax probabilities over every expert or their sigmoids, then renormalised (transformers' sum + 1e-6 for sigmoids).
@compute @workgroup_size(WG)
fn route(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x;
  if (t >= step.n_tokens) { return; }
  let row = t * p.experts;
  var top = logits[row];
  var total = 0.0;
  if (!SIGMOID) {
    for (var e = 1u; e < p.experts; e++) { top = max(top, logits[row + e]); }
    for (var e = 0u; e < p.experts; e++) { total += exp(logits[row + e] - top); }
  }
  var chosen: array<u32, MAX_SLOTS>;
  var w: array<f32, MAX_SLOTS>;
  var sum = 0.0;
  for (var s = 0u; s < p.slots; s++) {
    var best = 0xffffffffu;
    var best_score = 0.0;
    var best_l = 0.0;
    for (var e = 0u; e < p.experts; e++) {
      var taken = false;
      for (var j = 0u; j < s; j++) { taken = taken || chosen[j] == e; }
      let l = logits[row + e];
      let score = choice_score(l, e);
      if (!taken && (best == 0xffffffffu || score > best_score)) {
        best = e;
        best_score = score;
        best_l = l;
      }
    }
    chosen[s] = best;
    w[s] = select(exp(best_l - top) / total, sigmoid(best_l), SIGMOID);
    sum += w[s];
  }
  let denominator = select(sum, sum + 1e-6, SIGMOID);
  for (var s = 0u; s < p.slots; s++) {
    ids[t * p.slots + s] = chosen[s];
    weights[t * p.slots + s] = select(w[s], w[s] / denominator, NORM_TOPK);
  }
}

// combine's bindings (route's 3 and 4 read-only here: a pipeline's bindings are its own)
@group(0) @binding(5) var<storage, read> slot_weights: array<f32>; // (T, slots)
@group(0) @binding(6) var<storage, read> expert_out: array<f32>; // (T * slots, width): each slot's expert output
@group(0) @binding(7) var<storage, read_write> x: array<f32>; // (T, width): the residual stream, added to

// x[t] += scale * sum over the slots of weight * the slot's output, in slot order. One invocation per (channel, token).
@compute @workgroup_size(WG)
fn combine(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  let t = gid.y;
  if (i >= p.width || t >= step.n_tokens) { return; }
  var sum = 0.0;
  for (var s = 0u; s < p.slots; s++) {
    let a = t * p.slots + s;
    sum += slot_weights[a] * expert_out[a * p.width + i];
  }
  x[t * p.width + i] += p.scale * sum;
}

// group's bindings
@group(0) @binding(8) var<storage, read> group_ids: array<u32>; // (T, slots): route's ids
// [tile] the tile's expert (NO_EXPERT past the last), then from p.tiles [padded row] its slot
@group(0) @binding(9) var<storage, read_write> groups: array<u32>;

const NO_EXPERT: u32 = 0xffffffffu;

var<workgroup> counts: array<atomic<u32>, EXPERTS_MAX>; // slots per expert
var<workgroup> fills: array<atomic<u32>, EXPERTS_MAX>; // the next free row of each expert's run
var<workgroup> starts: array<u32, EXPERTS_MAX>; // the first row of each expert's run

// The pass's slots by expert: each expert's run starts on a whole tile and is padded to whole tiles with its first slot;
// the order within a run is whatever the atomics give (each row of y is computed on its own). One workgroup.
@compute @workgroup_size(WG)
fn group(@builtin(local_invocation_index) lid: u32) {
  let n = step.n_tokens * p.slots;
  for (var e = lid; e < p.experts; e += WG) { atomicStore(&counts[e], 0u); }
  workgroupBarrier();
  for (var a = lid; a < n; a += WG) { atomicAdd(&counts[group_ids[a]], 1u); }
  workgroupBarrier();
  if (lid == 0u) {
    var row = 0u;
    var tile = 0u;
    for (var e = 0u; e < p.experts; e++) {
      let runs = (atomicLoad(&counts[e]) + p.tile - 1u) / p.tile;
      starts[e] = row;
      atomicStore(&fills[e], row);
      for (var j = 0u; j < runs; j++) { groups[tile + j] = e; }
      tile += runs;
      row += runs * p.tile;
    }
    for (; tile < p.tiles; tile++) { groups[tile] = NO_EXPERT; }
  }
  workgroupBarrier();
  for (var a = lid; a < n; a += WG) { groups[p.tiles + atomicAdd(&fills[group_ids[a]], 1u)] = a; }
  storageBarrier();
  workgroupBarrier();
  for (var e = lid; e < p.experts; e += WG) {
    let c = atomicLoad(&counts[e]);
    if (c == 0u) { continue; }
    let first = groups[p.tiles + starts[e]];
    for (var r = c; r % p.tile != 0u; r++) { groups[p.tiles + starts[e] + r] = first; }
  }
}
