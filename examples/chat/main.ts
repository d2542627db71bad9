/** A minimal chat page: the model runs in ./worker.ts; replies stream in through the chat API. */
import { connectEngine, isEmberError, type ChatMessage } from 'emberlm';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (s: string) => ($('status').textContent = s);
function line(cls: string, text = ''): HTMLElement {
  const el = Object.assign(document.createElement('div'), { className: cls, textContent: text });
  $('log').append(el);
  return el;
}

const connected = connectEngine(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }));
const messages: ChatMessage[] = [];
let controller: AbortController | null = null;

$('load').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const model = $<HTMLInputElement>('file').files?.[0] ?? $<HTMLInputElement>('url').value.trim();
  if (!model) return status('Choose a GGUF file or enter a URL.');
  status('Loading…');
  try {
    const info = await (await connected).load(model, {}, (f) => ($<HTMLProgressElement>('progress').value = f));
    messages.length = 0;
    $('log').textContent = '';
    status(`${info.config.name} loaded (${info.chatTemplate ? 'with its chat template' : 'no chat template: messages are joined as plain text'}).`);
    $<HTMLTextAreaElement>('prompt').disabled = $<HTMLButtonElement>('go').disabled = false;
  } catch (e) {
    status(`Load failed: ${(e as Error).message}`);
  }
});

$('send').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const content = $<HTMLTextAreaElement>('prompt').value.trim();
  if (!content || controller) return;
  $<HTMLTextAreaElement>('prompt').value = '';
  messages.push({ role: 'user', content });
  line('user', `> ${content}`);
  const out = line('assistant');
  controller = new AbortController();
  $<HTMLButtonElement>('stop').disabled = false;
  try {
    const stream = await (await connected).chat.completions.create({ messages, max_tokens: 256, temperature: 0.7, stream: true, signal: controller.signal });
    for await (const chunk of stream) {
      out.textContent += chunk.choices[0].delta.content ?? '';
      if (chunk.usage) status(`${chunk.usage.completion_tokens} tokens (${chunk.choices[0].finish_reason})`);
    }
    messages.push({ role: 'assistant', content: out.textContent ?? '' });
  } catch (e) {
    if (isEmberError(e, 'ABORTED')) {
      messages.push({ role: 'assistant', content: out.textContent ?? '' }); // keep what was said before Stop
      status('Stopped.');
    } else {
      line('error', (e as Error).message);
      messages.pop(); // the turn did not complete
    }
  } finally {
    controller = null;
    $<HTMLButtonElement>('stop').disabled = true;
  }
});

$('stop').addEventListener('click', () => controller?.abort());
