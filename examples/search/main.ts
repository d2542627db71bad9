/**
 * The search page: the documents pasted are embedded once by an embedding model in ./worker.ts (emberlm's worker
 * entry) and ranked against each query by cosine similarity; a reranker, loaded in a second worker, scores the best
 * RERANK_TOP of them again and orders them by its score. Models that name query and document prompts (EmbeddingGemma)
 * get them. `?model=` and `?reranker=` load on arrival; `?hub=<URL>` resolves Hub ids on a mirror.
 */
import { connectEngine, isEmberError, type WorkerEngine } from 'emberlm/client';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  loadForm: $<HTMLFormElement>('load-form'), modelInput: $<HTMLInputElement>('model-input'), loadButton: $<HTMLButtonElement>('load-button'),
  rerankerForm: $<HTMLFormElement>('reranker-form'), rerankerInput: $<HTMLInputElement>('reranker-input'), rerankerButton: $<HTMLButtonElement>('reranker-button'),
  status: $('status'), documents: $<HTMLTextAreaElement>('documents'),
  searchForm: $<HTMLFormElement>('search-form'), query: $<HTMLInputElement>('query'), searchButton: $<HTMLButtonElement>('search-button'),
  results: $<HTMLOListElement>('results'),
};

const RERANK_TOP = 5;
const SAMPLE = [
  'The capital of China is Beijing.',
  'Gravity is a force that attracts two bodies towards each other.',
  'Lily wanted to play with the big red ball under the tree.',
  'WebGPU lets a web page run compute shaders on the GPU.',
  'Paris is the capital and largest city of France.',
  'Photosynthesis turns light, water and carbon dioxide into sugar.',
];

const params = new URLSearchParams(location.search);
const hubUrl = params.get('hub') ?? undefined;

/** A model in its own worker, and what the page knows of it. */
interface Loaded { engine: WorkerEngine; name: string; prompts: Readonly<Record<string, string>> }

const state = {
  embedder: null as Loaded | null,
  reranker: null as Loaded | null,
  busy: false,
  /** Each document's embedding by its text, for the loaded embedder (a new one clears it). */
  vectors: new Map<string, Float32Array>(),
};

function refresh(): void {
  ui.loadButton.disabled = ui.rerankerButton.disabled = state.busy;
  ui.searchButton.disabled = state.busy || !state.embedder || ui.query.value.trim() === '';
}

function say(text: string, error = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', error);
}

/** emberlm's typed errors say what was wrong in their message, after their code; anything else as it is. */
const explainError = (e: unknown) => (isEmberError(e) ? e.message : String(e));

/** Runs one action at a time, with the controls disabled and its failure shown. */
async function busy(action: () => Promise<void>): Promise<void> {
  state.busy = true;
  refresh();
  try {
    await action();
  } catch (e) {
    say(explainError(e), true);
  } finally {
    state.busy = false;
    refresh();
  }
}

async function load(input: string, previous: Loaded | null): Promise<Loaded> {
  const engine = previous?.engine ?? (await connectEngine(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' })));
  const info = await engine.load(input, { hubUrl }, (fraction, what) => say(`Loading ${input}: ${Math.round(fraction * 100)}% (${what})`));
  return { engine, name: input, prompts: info.embedPrompts };
}

async function loadEmbedder(): Promise<void> {
  const input = ui.modelInput.value.trim();
  state.embedder = await load(input, state.embedder);
  state.vectors.clear();
  say(`${input} is ready${state.embedder.prompts.query ? ' (with its query and document prompts)' : ''}. Type a query.`);
}

async function loadReranker(): Promise<void> {
  const input = ui.rerankerInput.value.trim();
  state.reranker = await load(input, state.reranker);
  say(`${input} will rerank the best ${RERANK_TOP} hits.`);
}

/** The name of a prompt the model has, for embed's promptName. */
const prompt = (m: Loaded, name: string) => (m.prompts[name] !== undefined ? name : undefined);

async function search(): Promise<void> {
  const m = state.embedder!;
  const docs = [...new Set(ui.documents.value.split('\n').map((l) => l.trim()).filter(Boolean))];
  const query = ui.query.value.trim();
  const t0 = performance.now();
  const missing = docs.filter((d) => !state.vectors.has(d));
  if (missing.length > 0) {
    const onProgress = (done: number, total: number) => say(`Embedding documents: ${done} of ${total}…`);
    // (a document past what the model takes is cut, as sentence-transformers cuts it)
    const { embeddings } = await m.engine.embed(missing, { promptName: prompt(m, 'document'), onProgress, truncate: true });
    missing.forEach((d, i) => state.vectors.set(d, embeddings[i]));
  }
  const [q] = (await m.engine.embed(query, { promptName: prompt(m, 'query'), truncate: true })).embeddings;
  // The vectors are L2-normalised: their dot product is the cosine similarity.
  const hits = docs.map((text) => ({ text, score: dot(q, state.vectors.get(text)!), rerank: null as number | null }));
  hits.sort((a, b) => b.score - a.score);
  if (state.reranker) {
    const top = hits.slice(0, RERANK_TOP);
    const onProgress = (done: number, total: number) => say(`Reranking the best hits: ${done} of ${total}…`);
    const { scores } = await state.reranker.engine.rerank(query, top.map((h) => h.text), { onProgress, truncate: true });
    top.forEach((h, i) => (h.rerank = scores[i]));
    top.sort((a, b) => b.rerank! - a.rerank!);
    hits.splice(0, top.length, ...top);
  }
  render(hits);
  say(`${docs.length} documents ranked in ${((performance.now() - t0) / 1000).toFixed(1)} s (${missing.length} embedded now).`);
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function render(hits: { text: string; score: number; rerank: number | null }[]): void {
  ui.results.replaceChildren(...hits.map((h) => {
    const li = document.createElement('li');
    const score = Object.assign(document.createElement('span'), { className: 'score', textContent: h.score.toFixed(3), title: 'cosine similarity' });
    li.append(score);
    if (h.rerank !== null) li.append(Object.assign(document.createElement('span'), { className: 'rerank', textContent: `rerank ${h.rerank.toFixed(3)}`, title: 'the reranker\'s P(yes)' }));
    li.append(h.text);
    li.dataset.score = String(h.score);
    if (h.rerank !== null) li.dataset.rerank = String(h.rerank);
    return li;
  }));
}

ui.loadForm.addEventListener('submit', (e) => {
  e.preventDefault();
  void busy(loadEmbedder);
});
ui.rerankerForm.addEventListener('submit', (e) => {
  e.preventDefault();
  void busy(loadReranker);
});
ui.searchForm.addEventListener('submit', (e) => {
  e.preventDefault();
  if (!ui.searchButton.disabled) void busy(search);
});
ui.query.addEventListener('input', refresh);
ui.documents.addEventListener('input', refresh);

ui.documents.value = SAMPLE.join('\n');
ui.modelInput.value = params.get('model') ?? 'sentence-transformers/all-MiniLM-L6-v2'; // 22.7M parameters, 90 MB
ui.rerankerInput.value = params.get('reranker') ?? '';
if (!('gpu' in navigator)) say('This browser has no WebGPU: try a recent Chrome, Edge or Safari.', true);
else {
  say('Load an embedding model to start.');
  const start = async () => {
    if (params.has('model')) await loadEmbedder();
    if (params.has('reranker')) await loadReranker();
  };
  void busy(start);
}
