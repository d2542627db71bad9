/**
 * Qwen3.5 as people download it. The Hub's checkpoints are Qwen3_5ForConditionalGeneration: config.json keeps the text
 * model's fields under text_config beside a vision tower's, the weights sit under model.language_model, beside
 * model.visual and the multi-token-prediction head (mtp.*), which emberlm does not run: the fixture's text model
 * (test/fixtures/qwen3_5) rewritten so runs to transformers' ids as the folder does.
 * And from a GGUF file as llama.cpp's own converter writes it: test/fixtures/qwen3_5/qwen3_5.llama-cpp.gguf,
 * convert_hf_to_gguf.py run once on the qwen3_5 fixture's folder (its README says how): architecture qwen35, the value
 * heads reordered to ggml's tiled order (2 key heads serving 4 value heads), A = -exp(A_log), the (1 + w) norms folded,
 * the FFN's pre-norm named post_attention_norm, q and its gate still interleaved per head. Its tokenizer is the fixture's
 * vocabulary written as gpt2 (the converter knows no other for qwen35), so the prompts go in as transformers' ids.
 */
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { hfOracleFolder, hfOraclePath } from './helpers/models.ts';
import { teacherForced } from './helpers/teacher_forced.ts';
import { testGpu } from './helpers/gpu.ts';
import { readSafetensors, readTensorBytes } from '../src/hf/safetensors.ts';
import { encodeSafetensors } from '../src/hf/safetensors_writer.ts';
import { sourceFromPath } from '../src/gguf/source_node.ts';
import { configFromHF } from '../src/hf/config.ts';
import { configFromGGUF } from '../src/model/config.ts';
import { readGGUF } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { expectEmberError } from './helpers/errors.ts';

interface OraclePrompt { prompt_ids: number[]; generated_ids: number[]; steps: { top_ids: number[]; top_logits: number[] }[] }

const GGUF = resolve(import.meta.dirname, 'fixtures/qwen3_5/qwen3_5.llama-cpp.gguf');
const oracle = JSON.parse(readFileSync(hfOraclePath('qwen3_5'), 'utf8')) as { prompts: OraclePrompt[] };

/** Teacher-forced on transformers' paths from its prompt ids: the greedy ids must be its; the worst |dlogit| over the top 20. */
async function againstOracle(engine: Engine): Promise<number> {
  let worst = 0;
  for (const p of oracle.prompts) {
    const run = await teacherForced(engine, p.prompt_ids, p);
    expect(run.ids).toEqual(p.generated_ids);
    worst = Math.max(worst, run.top);
  }
  return worst;
}

describe('qwen3_5 as a Qwen3_5ForConditionalGeneration checkpoint', () => {
  it('reads text_config and model.language_model, leaves the vision tower and the MTP head, runs to transformers\' ids', async () => {
    const src = hfOracleFolder('qwen3_5');
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-qwen35-vl-'));
    try {
      const text = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
      const { tie_word_embeddings: tied, ...textConfig } = text;
      writeFileSync(join(dir, 'config.json'), JSON.stringify({
        architectures: ['Qwen3_5ForConditionalGeneration'], model_type: 'qwen3_5', tie_word_embeddings: tied,
        text_config: { ...textConfig, model_type: 'qwen3_5_text' }, vision_config: { model_type: 'qwen3_5', depth: 1, hidden_size: 8 },
        image_token_id: 513, video_token_id: 512,
      }));
      const st = await readSafetensors(await sourceFromPath(join(src, 'model.safetensors')));
      const tensors = [];
      for (const t of st.tensors.values()) tensors.push({ name: t.name.replace(/^model\./, 'model.language_model.'), dtype: t.dtype, shape: t.shape, bytes: await readTensorBytes(t) });
      const bf16 = (n: number) => new Uint8Array(2 * n).fill(0x3f); // (values the engine must never read)
      tensors.push({ name: 'model.visual.patch_embed.proj.weight', dtype: 'BF16', shape: [8, 4], bytes: bf16(32) });
      tensors.push({ name: 'mtp.fc.weight', dtype: 'BF16', shape: [64, 128], bytes: bf16(64 * 128) });
      writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors));
      for (const f of ['generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) symlinkSync(join(src, f), join(dir, f));
      const engine = await Engine.load(dir, { gpu: await testGpu('f16'), contextLength: 128, maxBatch: 16, kvCache: 'f32' });
      try {
        expect(engine.model.config.layerDelta).toEqual([true, true, true, false]);
        expect(await againstOracle(engine)).toBeLessThanOrEqual(1e-3);
      } finally {
        engine.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('qwen3_5 as llama.cpp converts it', () => {
  let engine: Engine;
  beforeAll(async () => {
    // (a Node Buffer as it is: its F32 tensors were once read from the Buffer pool's start, not the file's bytes)
    engine = await Engine.load(readFileSync(GGUF), { gpu: await testGpu('f16'), contextLength: 128, maxBatch: 16, kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('reads the folder\'s forward-pass config, its value heads tiled', async () => {
    const hf = await Engine.load(hfOracleFolder('qwen3_5'), { gpu: await testGpu('f16'), contextLength: 16 });
    try {
      const { name: _a, eps: e1, ropeBase: _b, delta: d1, ...ours } = engine.model.config;
      const { name: _c, eps: e2, ropeBase: _d, delta: d2, ...theirs } = hf.model.config;
      expect(ours).toEqual(theirs);
      expect(e1).toBe(Math.fround(e2));
      expect(d1).toEqual({ ...d2, vTiled: true });
    } finally {
      hf.dispose();
    }
  });

  it('greedy ids and top logits equal transformers\'', async () => {
    const worst = await againstOracle(engine);
    console.log(`[qwen35 gguf] max |dlogit| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-3); // as the folder (test/hf_oracle.test.ts: the oracle's own float32 error is 6.6e-4)
  });
});

describe('Qwen3.5 configs that do not describe a runnable model are refused, naming the field', () => {
  const text = () => JSON.parse(readFileSync(join(hfOracleFolder('qwen3_5'), 'config.json'), 'utf8')) as Record<string, unknown>;
  it('config.json', async () => {
    expect(configFromHF(text()).config).toMatchObject({ arch: 'qwen35', attnGate: true, nRot: 8, delta: { nKHead: 2, nVHead: 4, headKDim: 32, headVDim: 16, convKernel: 4, vTiled: false } });
    // Qwen3_5TextConfig's defaults: every 4th layer attends where layer_types is absent
    const { layer_types: _, ...noTypes } = text();
    expect(configFromHF({ ...noTypes, num_hidden_layers: 8 }).config.layerDelta).toEqual([true, true, true, false, true, true, true, false]);
    await expectEmberError(() => configFromHF({ ...text(), linear_num_value_heads: 3 }), 'BAD_MODEL', /field linear_num_value_heads is 3; expected a multiple of the 2 key heads/);
    await expectEmberError(() => configFromHF({ ...text(), linear_key_head_dim: 30 }), 'BAD_MODEL', /field linear_key_head_dim is 30; expected a multiple of 4/);
    await expectEmberError(() => configFromHF({ ...text(), layer_types: ['linear_attention', 'mamba', 'linear_attention', 'full_attention'] }), 'BAD_MODEL', /field layer_types .* expected 4 entries of "linear_attention" or "full_attention"/);
    await expectEmberError(() => configFromHF({ model_type: 'qwen3_5', text_config: 'none' }), 'BAD_MODEL', /field text_config is "none"/);
  });
  it('GGUF qwen35 metadata', async () => {
    const f = await readGGUF(sourceFromBuffer(new Uint8Array(readFileSync(GGUF))));
    /** The file's config with one metadata value replaced. */
    const patched = async (key: string, value: number | boolean[]) => configFromGGUF({ ...f, metadata: new Map([...f.metadata, [key, value]]) });
    expect((await patched('qwen35.nextn_predict_layers', 1)).nLayer).toBe(3); // an MTP block past the model's own
    await expectEmberError(() => patched('qwen35.ssm.group_count', 3), 'BAD_MODEL', /metadata key qwen35\.ssm\.time_step_rank is 4; expected a multiple of the 3 key heads/);
    await expectEmberError(() => patched('qwen35.ssm.inner_size', 66), 'BAD_MODEL', /qwen35\.ssm\.inner_size over qwen35\.ssm\.time_step_rank is 16\.5/);
    await expectEmberError(() => patched('qwen35.attention.recurrent_layers', [true, true]), 'BAD_MODEL', /recurrent_layers has 2 entries; expected 4/);
  });
});
