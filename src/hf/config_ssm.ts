import { EmberError } from '../errors.ts';
import { validateSsm } from '../model/validate.ts';
import { UNIT_SCALES, type SsmShape } from '../model/ssm_shape.ts';
import { printableJson } from '../util/printable.ts';
import { isObject, type Bad } from './config.ts';

/**
 * config.json's Mamba-2 fields (src/hf/config.ts reads the rest): Granite 4.0's layer kinds and mixer shape, Falcon-H1's
 * mixer and muP multipliers.
 */

/**
 * Granite 4.0 (GraniteMoeHybridForCausalLM) as emberlm runs it: each layer attention or (the -H models) a Mamba-2
 * mixer, its MLP the shared one (with experts beside it where num_local_experts says: src/hf/config_moe.ts). Which
 * layers are Mamba-2, and their shape (null where none is).
 */
export function graniteLayers(cfg: Record<string, unknown>, file: string, bad: Bad, nLayer: number, nEmbd: number): { layerSsm: boolean[]; ssm: SsmShape | null } {
  // IBM's configs say "attention" and "mamba"; transformers 5 saves them as "full_attention" and "linear_attention"
  const types = cfg.layer_types ?? cfg.layers_block_type;
  const attention = (t: unknown) => t === 'attention' || t === 'full_attention';
  if (!Array.isArray(types) || types.length !== nLayer || !types.every((t) => attention(t) || t === 'mamba' || t === 'linear_attention')) {
    throw bad('layer_types', `is ${printableJson(types)?.slice(0, 80)}; expected ${nLayer} entries of "attention" or "mamba", one per layer`);
  }
  const layerSsm = types.map((t) => !attention(t));
  return { layerSsm, ssm: layerSsm.some(Boolean) ? mambaShape(cfg, file, bad, nEmbd) : null };
}

/**
 * Falcon-H1: a Mamba-2 mixer beside attention in every layer, and its muP multipliers. The attention's input multiplier a
 * scales q, k and v, its key multiplier k again: scores a^2 k_m q.k / sqrt(head_dim), the output a times, so both go
 * into attnScale and the attention's output scale (the K/V cache holds them unscaled). The FFN gate's multiplier g sits
 * inside the activation: pre_ff_layernorm's weight takes it (src/model/host_weights.ts), which scales gate and up alike,
 * and the FFN's output scale divides it out again: down(act(g gate) g up) / g.
 */
export function falconMup(cfg: Record<string, unknown>, bad: Bad, num: (f: string, d?: number) => number, headDim: number, ssm: SsmShape, nLayer: number) {
  const pair = cfg.mlp_multipliers ?? [1, 1];
  if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((v) => typeof v === 'number' && Number.isFinite(v) && v !== 0)) {
    throw bad('mlp_multipliers', `is ${printableJson(pair)?.slice(0, 80)}; expected [gate, down], two non-zero numbers`);
  }
  const [gate, down] = pair as number[];
  const a = num('attention_in_multiplier', 1);
  return {
    layerSsm: Object.freeze(Array<boolean>(nLayer).fill(true)), ssm: Object.freeze(ssm), ssmBesideAttention: true,
    embedScale: num('embedding_multiplier', 1), logitScale: 1 / num('lm_head_multiplier', 1),
    attnScale: (a * a * num('key_multiplier', 1)) / Math.sqrt(headDim),
    mup: Object.freeze({ attnOut: a * num('attention_out_multiplier', 1), ssmOut: num('ssm_out_multiplier', 1), ffnOut: down / gate, ffnGate: gate }),
  };
}

/**
 * The mamba_* fields (their defaults where absent) as GraniteMoeHybridMambaLayer and FalconH1Mixer read them: Falcon-H1's
 * inner width may be its own (mamba_d_ssm), its gated norm is optional (mamba_rms_norm) and its in_proj output is scaled
 * by segment (ssm_multipliers times ssm_in_multiplier, the input's scale, which the linear in_proj passes through).
 */
export function mambaShape(cfg: Record<string, unknown>, file: string, bad: Bad, nEmbd: number, falcon = false): SsmShape {
  const int = (field: string, fallback: number) => {
    const v = cfg[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw bad(field, `is ${printableJson(v)}; expected a positive integer`);
    return v;
  };
  const refuse = (field: string, what: string) => new EmberError('UNSUPPORTED', `${file}: ${field} ${printableJson(cfg[field])} (${what}) is not supported`, { file, field });
  if (cfg.mamba_proj_bias === true) throw refuse('mamba_proj_bias', 'biases on in_proj and out_proj');
  if (cfg.mamba_conv_bias === false) throw refuse('mamba_conv_bias', 'a convolution without its bias');
  const nHead = int('mamba_n_heads', 128);
  const inner = falcon && typeof cfg.mamba_d_ssm === 'number' ? int('mamba_d_ssm', 0) : int('mamba_expand', 2) * nEmbd;
  const headDim = cfg.mamba_d_head === undefined || cfg.mamba_d_head === 'auto' ? inner / nHead : int('mamba_d_head', 0);
  const nGroup = int('mamba_n_groups', 1);
  const gatedNorm = !falcon || cfg.mamba_rms_norm === true;
  if (falcon && gatedNorm && cfg.mamba_norm_before_gate !== false) throw refuse('mamba_norm_before_gate', 'the gated output normalised before its gate');
  // Groups of heads share B and C (the scan's), and GraniteMoeHybridRMSNormGated normalises every head at once as the
  // model's RMSNorm does; FalconH1RMSNormGated normalises each group apart, which no kernel here does.
  if (falcon && gatedNorm && nGroup !== 1) throw refuse('mamba_n_groups', 'groups of heads with a gated norm taken per group');
  const [dtMin, dtMax] = timeStepLimit(cfg.time_step_limit, bad);
  const names = {
    nHead: 'field mamba_n_heads', headDim: 'field mamba_d_head', dState: 'field mamba_d_state', nGroup: 'field mamba_n_groups',
    convKernel: 'field mamba_d_conv', dtMin: 'field time_step_limit[0]', dtMax: 'field time_step_limit[1]', inScales: 'field ssm_multipliers',
    inner: falcon ? 'field mamba_d_ssm' : 'field mamba_expand times hidden_size',
  };
  const shape = {
    nHead, headDim, dState: int('mamba_d_state', 256), nGroup, convKernel: int('mamba_d_conv', 4), dtMin, dtMax,
    inScales: falcon ? ssmInScales(cfg, bad) : UNIT_SCALES, gatedNorm,
  };
  return validateSsm(shape, file, names, inner);
}

/** Falcon-H1's in_proj scales: ssm_multipliers (z, x, B, C, dt; default 1s) times ssm_in_multiplier. */
function ssmInScales(cfg: Record<string, unknown>, bad: Bad): SsmShape['inScales'] {
  const m = cfg.ssm_multipliers ?? [1, 1, 1, 1, 1];
  const k = cfg.ssm_in_multiplier ?? 1;
  if (!Array.isArray(m) || m.length !== 5 || !m.every((v) => typeof v === 'number')) throw bad('ssm_multipliers', `is ${printableJson(m)?.slice(0, 80)}; expected 5 numbers (z, x, B, C, dt)`);
  if (typeof k !== 'number') throw bad('ssm_in_multiplier', `is ${printableJson(k)}; expected a number`);
  return m.map((v: number) => v * k) as unknown as SsmShape['inScales'];
}

/**
 * time_step_limit: absent, or two numbers; infinity as Python's json writes it (a bare Infinity, read by parseJson), as
 * transformers 5 saves it ({"__float__": "Infinity"}) or as a string ("Infinity", "inf").
 */
function timeStepLimit(v: unknown, bad: Bad): [number, number] {
  if (v === undefined || v === null) return [0, Infinity];
  const infinite = (x: unknown) => x === 'Infinity' || x === 'inf' || (isObject(x) && x.__float__ === 'Infinity');
  const value = (x: unknown) => (typeof x === 'number' ? x : infinite(x) ? Infinity : NaN);
  const pair = Array.isArray(v) && v.length === 2 ? v.map(value) : [];
  if (pair.length !== 2 || pair.some(Number.isNaN)) throw bad('time_step_limit', `is ${printableJson(v)?.slice(0, 80)}; expected [min, max]`);
  return [pair[0], pair[1]];
}
