/**
 * The chat page: the model runs in ./worker.ts (emberlm's worker entry); replies stream in through the
 * OpenAI-style chat API. `?model=<Hub id or URL>` loads a model on arrival (a link people can share);
 * `?hub=<URL>` resolves Hub ids on a mirror instead of https://huggingface.co.
 */
import { connectEngine, isEmberError, type ChatMessage, type WorkerEngine } from 'emberlm/client';
import { checkWebGpu, describeAdapter, explain, type Explained } from './explain.ts';
import { SUGGESTED } from './models.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  chip: $<HTMLButtonElement>('model-chip'), dot: $('model-dot'), modelName: $('model-name'),
  newChat: $<HTMLButtonElement>('new-chat'), settingsButton: $<HTMLButtonElement>('settings-button'),
  banner: $('banner'), bannerTitle: $('banner-title'), bannerText: $('banner-text'), bannerCode: $('banner-code'),
  thread: $('thread'), picker: $('picker'), suggestions: $('suggestions'), messages: $('messages'),
  loadForm: $<HTMLFormElement>('load-form'), modelInput: $<HTMLInputElement>('model-input'),
  loadButton: $<HTMLButtonElement>('load-button'), fileInput: $<HTMLInputElement>('file-input'),
  progress: $('progress'), progressFill: $('progress-fill'), progressText: $('progress-text'), adapter: $('adapter'),
  cancelLoad: $<HTMLButtonElement>('cancel-load'),
  sendForm: $<HTMLFormElement>('send-form'), prompt: $<HTMLTextAreaElement>('prompt'), send: $<HTMLButtonElement>('send'),
  stop: $<HTMLButtonElement>('stop'), settings: $<HTMLDialogElement>('settings'),
  temperature: $<HTMLInputElement>('temperature'), temperatureValue: $('temperature-value'),
  maxTokens: $<HTMLInputElement>('max-tokens'), jsonMode: $<HTMLInputElement>('json-mode'),
  thinking: $<HTMLInputElement>('thinking'), thinkingSetting: $('thinking-setting'), systemPrompt: $<HTMLTextAreaElement>('system-prompt'), settingsInfo: $('settings-info'),
};

/** What a load reports: the fraction of the whole load, and (from emberlm's loader) the phase and bytes. */
interface LoadEvent { readonly phase: string; readonly loaded: number; readonly total: number | null }

const state = {
  engine: null as Promise<WorkerEngine> | null,
  model: null as string | null, // the loaded model's label
  loading: null as AbortController | null, // the load in progress (Cancel aborts it)
  reply: null as AbortController | null,
  messages: [] as ChatMessage[],
  adapter: '',
  /** The model's chat template reads enable_thinking (Qwen3, Qwen3.5, SmolLM3): the setting can turn its reasoning off. */
  canThink: false,
};

/** How a model is named in the header: a Hub id as it is, a URL by its file name (or Hub repo). */
function modelLabel(input: string): string {
  if (!/^[a-z][a-z\d+.-]*:|^\.{0,2}\//i.test(input)) {
    const parts = input.split('/'); // a Hub id: org/name[:QUANT] as it is, org/name/path/file.gguf by its file
    return parts.length > 2 ? parts[parts.length - 1] : input;
  }
  const hub = /huggingface\.co\/([^/]+\/[^/]+)\/resolve\/[^/]+\/(.*)$/.exec(input);
  if (hub) return hub[2] && !hub[2].endsWith('/') ? hub[2].split('/').pop()! : hub[1];
  return input.replace(/\/+$/, '').split('/').pop() || input;
}

const params = new URLSearchParams(location.search);
const hubUrl = params.get('hub');

const mb = (bytes: number) => (bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0);

function showBanner(e: Explained | null): void {
  ui.banner.hidden = !e;
  if (!e) return;
  ui.bannerTitle.textContent = e.title;
  ui.bannerText.textContent = e.text;
  ui.bannerCode.textContent = e.detail;
}

/** Every control's enabled state follows from `state`, in one place. */
function refresh(): void {
  const busy = state.loading !== null || state.reply !== null;
  const canLoad = state.engine !== null && !busy;
  for (const b of ui.suggestions.querySelectorAll('button')) b.disabled = !canLoad;
  ui.loadButton.disabled = ui.modelInput.disabled = ui.fileInput.disabled = !canLoad;
  ui.prompt.disabled = state.model === null;
  ui.prompt.placeholder = state.model ? `Message ${state.model}` : 'Load a model to start';
  ui.send.disabled = busy || state.model === null || ui.prompt.value.trim() === '';
  ui.stop.hidden = state.reply === null;
  ui.newChat.disabled = state.model === null || state.loading !== null;
  ui.chip.disabled = state.engine === null;
  ui.dot.className = `dot ${busy ? 'busy' : state.model ? 'ready' : ''}`;
  ui.modelName.textContent = state.loading ? 'Loading…' : (state.model ?? 'Choose a model');
}

function showPicker(show: boolean): void {
  ui.picker.hidden = !show;
  if (show) ui.thread.scrollTop = 0;
}

function onProgress(fraction: number, what: string, event?: LoadEvent): void {
  ui.progressFill.style.width = `${Math.round(fraction * 100)}%`;
  const file = what.split('/').pop() ?? what;
  if (!event) {
    ui.progressText.textContent = 'Connecting…';
  } else if (event.phase === 'download') {
    ui.progressText.textContent = event.total ? `Downloading ${file} · ${mb(event.loaded)} / ${mb(event.total)} MB` : `Downloading ${file} · ${mb(event.loaded)} MB`;
  } else if (event.phase === 'parse') {
    ui.progressText.textContent = `Reading ${file}…`;
  } else if (event.phase === 'compile') {
    ui.progressText.textContent = `Compiling GPU kernels · ${event.loaded}`;
  } else {
    const verb = event.phase === 'quantize' ? 'Quantizing' : 'Uploading to the GPU';
    ui.progressText.textContent = `${verb} · ${what} · ${Math.round(fraction * 100)}%`;
  }
}

async function load(input: string | File): Promise<void> {
  if (!state.engine || state.loading) return;
  const label = typeof input === 'string' ? modelLabel(input) : input.name;
  const loading = (state.loading = new AbortController());
  showBanner(null);
  showPicker(true);
  ui.progress.hidden = false;
  onProgress(0, 'starting');
  refresh();
  ui.progress.scrollIntoView({ block: 'nearest' }); // below the suggestions on a phone
  try {
    const info = await (await state.engine).load(input, { ...(hubUrl ? { hubUrl } : {}), signal: loading.signal }, onProgress);
    state.model = label;
    state.messages = [];
    ui.messages.textContent = '';
    const ctx = info.config.contextTrain;
    const template = info.chatTemplate ? 'its chat template' : 'no chat template (plain text)';
    state.canThink = info.chatTemplate?.includes('enable_thinking') ?? false;
    ui.thinkingSetting.hidden = !state.canThink;
    ui.settingsInfo.textContent = `${label}: ${info.config.arch}, ${info.config.nLayer} layers, trained context ${ctx}, ${template}. GPU: ${state.adapter}`;
    note(`${state.model} is ready · ${info.config.arch}, ${info.config.nLayer} layers · ${template}`);
    showPicker(false);
    if (!matchMedia('(pointer: coarse)').matches) ui.prompt.focus();
  } catch (e) {
    // the model loaded before (if any) keeps answering
    if (!isEmberError(e, 'ABORTED')) showBanner(explain(e, 'load'));
  } finally {
    state.loading = null;
    ui.progress.hidden = true;
    refresh();
  }
}

function bubble(kind: 'user' | 'assistant' | 'error' | 'info'): { li: HTMLLIElement; body: HTMLDivElement; meta: HTMLDivElement } {
  const li = Object.assign(document.createElement('li'), { className: `msg ${kind}` });
  const body = Object.assign(document.createElement('div'), { className: 'bubble' });
  const meta = Object.assign(document.createElement('div'), { className: 'meta' });
  li.append(body, meta);
  ui.messages.append(li);
  return { li, body, meta };
}

/**
 * A thinking model's reasoning, above its answer: open while it streams, folded (a summary to click) once the answer
 * starts or the reply ends.
 */
function thoughts(reply: { li: HTMLLIElement; body: HTMLDivElement }) {
  const box = Object.assign(document.createElement('details'), { className: 'thinking', open: true });
  const summary = Object.assign(document.createElement('summary'), { textContent: 'Thinking…' });
  const body = Object.assign(document.createElement('div'), { className: 'thought' });
  box.append(summary, body);
  reply.li.insertBefore(box, reply.body);
  const paint = painter(body);
  let closed = false;
  return {
    paint,
    done(tokens: number) {
      if (closed) return;
      closed = true;
      paint.flush();
      box.open = false;
      summary.textContent = `Thought for ${tokens} token${tokens === 1 ? '' : 's'}`;
    },
  };
}

function note(text: string): void {
  bubble('info').body.textContent = text;
}

/** Whether the thread is scrolled to its end, kept by a scroll listener so that streaming never reads layout. */
let atEnd = true;

/**
 * Where the browser has scroll anchoring, the anchor at the thread's end (style.css) keeps the newest text in
 * view as it grows, with no layout forced by script per token; elsewhere (Safari) the script scrolls.
 */
const anchored = CSS.supports('overflow-anchor', 'auto');

/** Keeps the newest text in view, unless the reader scrolled up to read; `force` on a new message. */
function follow(force = false): void {
  if (force || (atEnd && !anchored)) ui.thread.scrollTop = 1e9;
}

/**
 * Shows streamed text at most once per frame: tokens can arrive faster than the screen refreshes, and each
 * write followed by `follow()` costs a layout on the main thread.
 */
function painter(el: HTMLElement): { add(text: string): void; flush(): void } {
  const node = el.appendChild(document.createTextNode(''));
  let pending = '';
  let frame = 0;
  const flush = () => {
    cancelAnimationFrame(frame);
    frame = 0;
    if (!pending) return;
    node.appendData(pending);
    pending = '';
    follow();
  };
  return {
    add(text) {
      pending += text;
      frame ||= requestAnimationFrame(flush);
    },
    flush,
  };
}

async function send(): Promise<void> {
  const content = ui.prompt.value.trim();
  if (!content || !state.engine || state.model === null || state.reply || state.loading) return;
  ui.prompt.value = '';
  fitPrompt();
  showBanner(null);
  state.messages.push({ role: 'user', content });
  bubble('user').body.textContent = content;
  const reply = bubble('assistant');
  reply.li.dataset.state = 'typing';
  reply.body.hidden = true;
  const typing = Object.assign(document.createElement('div'), { className: 'typing', innerHTML: '<i></i><i></i><i></i>' });
  typing.setAttribute('aria-label', 'The model is reading your message');
  reply.li.insertBefore(typing, reply.meta);
  follow(true);
  const controller = (state.reply = new AbortController());
  refresh();

  const system = ui.systemPrompt.value.trim();
  const messages: ChatMessage[] = system ? [{ role: 'system', content: system }, ...state.messages] : [...state.messages];
  const t0 = performance.now();
  let tFirst = 0;
  let text = '';
  let thought = ''; // a thinking model's reasoning (delta.reasoning_content), shown folded above the answer
  let thinking: ReturnType<typeof thoughts> | null = null;
  let tokens = 0;
  let finish: string | null = null;
  const paint = painter(reply.body);
  const stats = () => {
    const decode = tokens > 1 ? ((tokens - 1) * 1000) / (performance.now() - tFirst) : 0;
    const ttft = tFirst ? `TTFT ${Math.round(tFirst - t0)} ms` : '';
    return [`${tokens} tokens`, decode ? `${decode.toFixed(1)} tok/s` : '', ttft].filter(Boolean).join(' · ');
  };
  try {
    const stream = await (await state.engine).chat.completions.create({
      messages, stream: true, signal: controller.signal,
      temperature: Number(ui.temperature.value), max_tokens: Math.max(1, Number(ui.maxTokens.value) || 512),
      response_format: ui.jsonMode.checked ? { type: 'json_object' } : undefined,
      ...(state.canThink && !ui.thinking.checked ? { chat_template_kwargs: { enable_thinking: false } } : {}),
    });
    tFirst = performance.now();
    typing.remove();
    reply.body.hidden = false;
    reply.li.dataset.state = 'streaming';
    reply.body.classList.add('caret');
    for await (const chunk of stream) {
      const reasoning = chunk.choices[0].delta.reasoning_content ?? '';
      if (reasoning) {
        thinking ??= thoughts(reply);
        thought += reasoning;
        tokens++;
        thinking.paint.add(reasoning);
      }
      const delta = chunk.choices[0].delta.content ?? '';
      if (delta) {
        thinking?.done(tokens);
        text += delta;
        tokens++;
        paint.add(delta);
      }
      finish = chunk.choices[0].finish_reason ?? finish;
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
    paint.flush();
    thinking?.done(tokens);
    // (the reasoning goes back too: templates that read it, Qwen3.5's, render it for the turn that needs it)
    state.messages.push({ role: 'assistant', content: text, ...(thought ? { reasoning_content: thought } : {}) });
    reply.li.dataset.state = finish === 'abort' ? 'stopped' : 'done';
    reply.meta.textContent = `${stats()}${finish === 'length' ? ' · hit the length limit' : finish === 'abort' ? ' · stopped' : ''}`;
  } catch (e) {
    typing.remove();
    paint.flush();
    thinking?.done(tokens);
    if (isEmberError(e, 'ABORTED')) {
      if (text) state.messages.push({ role: 'assistant', content: text }); // keep what was said before Stop
      else state.messages.pop();
      reply.body.hidden = !text;
      reply.li.dataset.state = 'stopped';
      reply.meta.textContent = `${tokens ? `${stats()} · ` : ''}stopped`;
    } else {
      state.messages.pop(); // the turn did not happen; the user can send it again
      reply.li.remove();
      const err = explain(e, 'reply');
      const shown = bubble('error');
      shown.li.dataset.state = 'error';
      shown.body.innerHTML = '<strong></strong><br><span></span>';
      shown.body.querySelector('strong')!.textContent = err.title;
      shown.body.querySelector('span')!.textContent = err.text;
      shown.meta.textContent = err.detail;
    }
  } finally {
    reply.li.dataset.tokens = String(tokens);
    reply.body.classList.remove('caret');
    state.reply = null;
    refresh();
    follow();
  }
}

function fitPrompt(): void {
  ui.prompt.style.height = 'auto';
  ui.prompt.style.height = `${ui.prompt.scrollHeight}px`;
}

function renderSuggestions(): void {
  for (const m of SUGGESTED) {
    const li = document.createElement('li');
    const b = Object.assign(document.createElement('button'), { type: 'button', className: 'suggestion' });
    b.dataset.model = m.id;
    b.innerHTML = '<b></b><span></span><span class="size"></span>';
    const [name, note, size] = b.children;
    name.textContent = m.name;
    note.textContent = m.note;
    size.textContent = `${m.mb < 10 ? m.mb : Math.round(m.mb)} MB · ${m.id}`;
    b.addEventListener('click', () => void load(m.id));
    li.append(b);
    ui.suggestions.append(li);
  }
}

function wire(): void {
  ui.loadForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = ui.modelInput.value.trim();
    if (v) void load(v);
  });
  ui.fileInput.addEventListener('change', () => {
    const f = ui.fileInput.files?.[0];
    if (f) void load(f);
    ui.fileInput.value = '';
  });
  ui.sendForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void send();
  });
  ui.prompt.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      void send();
    }
  });
  ui.prompt.addEventListener('input', () => {
    fitPrompt();
    refresh();
  });
  ui.stop.addEventListener('click', () => state.reply?.abort());
  ui.cancelLoad.addEventListener('click', () => state.loading?.abort());
  ui.thread.addEventListener('scroll', () => {
    const t = ui.thread;
    atEnd = t.scrollHeight - t.scrollTop - t.clientHeight < 80;
  }, { passive: true });
  ui.chip.addEventListener('click', () => showPicker(ui.picker.hidden));
  ui.newChat.addEventListener('click', () => {
    state.reply?.abort();
    state.messages = [];
    ui.messages.textContent = '';
    showBanner(null);
    ui.prompt.focus();
  });
  ui.settingsButton.addEventListener('click', () => ui.settings.showModal());
  ui.temperature.addEventListener('input', () => (ui.temperatureValue.textContent = Number(ui.temperature.value).toFixed(2)));
}

/** A lost GPU (a driver reset, another tab's memory): load the model again on a new device and go on. */
async function recover(engine: WorkerEngine): Promise<void> {
  note('The GPU was reset: loading the model again…');
  try {
    await engine.recover();
    note('Recovered: the conversation goes on.');
  } catch (e) {
    showBanner(explain(e, 'load'));
  }
}

async function start(): Promise<void> {
  renderSuggestions();
  wire();
  refresh();
  const gpu = await checkWebGpu();
  if (!('adapter' in gpu)) {
    showBanner(gpu);
    ui.adapter.textContent = 'Models cannot run in this browser (see above).';
    return;
  }
  state.adapter = describeAdapter(gpu.adapter);
  ui.adapter.textContent = `Your GPU: ${state.adapter}`;
  state.engine = connectEngine(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }));
  state.engine.then((engine) => engine.addEventListener('devicelost', () => void recover(engine)), (e: unknown) => showBanner(explain(e, 'load')));
  refresh();
  const wanted = params.get('model');
  if (wanted) {
    ui.modelInput.value = wanted;
    await load(wanted);
  }
}

void start();
