import { isEmberError } from 'emberlm/client';

/** What went wrong, in words for someone using the page; `detail` keeps the engine's own message. */
export interface Explained {
  readonly title: string;
  readonly text: string;
  readonly detail: string;
}

const noWebGpuText =
  'This browser cannot run models here: WebGPU is missing. Use a recent Chrome or Edge (on Linux, turn on ' +
  'chrome://flags/#enable-unsafe-webgpu), Safari 26 or later, or Firefox 141 or later on Windows.';

const noAdapterText =
  'The browser has WebGPU but offered no GPU adapter: hardware acceleration may be off (see chrome://gpu), or the GPU is blocklisted.';

/** Checked once on page load, before anything is downloaded. */
export async function checkWebGpu(): Promise<Explained | { adapter: GPUAdapter }> {
  if (!window.isSecureContext) {
    return { title: 'WebGPU needs a secure page', text: 'Open this page over https:// or from localhost: browsers offer WebGPU only there.', detail: location.origin };
  }
  if (!navigator.gpu) return { title: 'No WebGPU in this browser', text: noWebGpuText, detail: 'navigator.gpu is undefined' };
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  if (!adapter) return { title: 'No usable GPU found', text: noAdapterText, detail: 'navigator.gpu.requestAdapter() returned null' };
  return { adapter };
}

export function describeAdapter(adapter: GPUAdapter): string {
  const i = adapter.info;
  const name = [i.vendor, i.architecture, i.description || i.device].filter(Boolean).join(' ') || 'unknown GPU';
  const f16 = adapter.features.has('shader-f16') ? 'f16 shaders' : 'f32 shaders only';
  const sub = adapter.features.has('subgroups') ? ', subgroups' : '';
  return `${name} · ${f16}${sub}`;
}

/**
 * Branches on the error's code, never on words that might come from the URL or the file (a model at
 * .../offline-mirror/garbage.gguf is a BAD_FILE, not a network failure); only a NETWORK error is told
 * apart by its HTTP status and, without one, by the engine's wording after the URL.
 */
export function explain(e: unknown, what: 'load' | 'reply'): Explained {
  const message = (e instanceof Error ? e.message : String(e)).replace(/^\[[A-Z_]+\] /, ''); // the code is shown once
  const detail = isEmberError(e) ? `${e.code}: ${message}` : message;
  const unexpected = { title: what === 'load' ? 'The model did not load' : 'The reply failed', text: 'Something unexpected went wrong.', detail };
  if (!isEmberError(e)) return unexpected;
  switch (e.code) {
    case 'DEVICE':
      if (e.details.webgpu === false || /navigator\.gpu/.test(message)) return { title: 'No WebGPU in this browser', text: noWebGpuText, detail };
      if (/no WebGPU adapter/.test(message)) return { title: 'No usable GPU found', text: noAdapterText, detail };
      return { title: 'The GPU stopped', text: 'The GPU device failed or was lost (out of memory, or a driver reset). Reload the model; a smaller one may fit.', detail };
    case 'NETWORK':
      return explainNetwork(e.details, message, detail);
    case 'CONTEXT_OVERFLOW':
      return { title: 'The conversation is too long', text: 'It no longer fits the model\'s context. Start a new chat.', detail };
    case 'UNSUPPORTED':
      return { title: 'This model is not supported yet', text: 'emberlm runs Llama, Mistral, Ministral 3, Qwen 2/3, Gemma 2/3, Phi-3, SmolLM2/3, ERNIE 4.5, Granite 3/4.0 (dense), OLMo 2/3 and LFM2 models: GGUF (F32, F16, BF16, Q8_0, Q4_0/1, Q5_0/1, the K-quants such as Q4_K_M) or safetensors.', detail };
    case 'BAD_FILE':
    case 'BAD_MODEL':
      return { title: 'Not a model file emberlm can read', text: 'Pick a .gguf file, or a Hugging Face folder with config.json and safetensors.', detail };
    case 'BAD_ARGUMENT':
      if (what === 'load') return { title: 'Not a model address', text: 'Enter a Hugging Face Hub id (org/name, or org/name:Q4_K_M for one quant) or the full http(s) URL of a .gguf file.', detail };
      return unexpected;
    default:
      return unexpected;
  }
}

/** A NETWORK error by its HTTP status, else by what the engine said after the URL (which may hold any word). */
function explainNetwork(details: Record<string, unknown>, message: string, detail: string): Explained {
  const status = typeof details.status === 'number' ? details.status : null;
  const said = typeof details.url === 'string' && message.startsWith(details.url) ? message.slice(details.url.length) : message;
  if (status === 404) {
    return { title: 'Model not found', text: 'Nothing is at that address: check the Hub id (org/name, case matters) or the URL, and that the repository is public.', detail };
  }
  if (status === 401 || status === 403) return { title: 'Access denied', text: 'The server refused the download: the repository may be gated or private.', detail };
  if (status !== null) return { title: 'The model server answered with an error', text: `It answered HTTP ${status}: it may be busy or down. Try again later.`, detail };
  if (/the download stopped/.test(said)) return { title: 'The download stopped', text: 'The connection dropped during the download. Load the model again: it resumes where it stopped.', detail };
  return {
    title: 'Could not reach the model server',
    text: 'You may be offline, or the server does not let web pages read its files (CORS). The Hugging Face Hub allows it; a server you run must send Access-Control-Allow-Origin and support Range requests.',
    detail,
  };
}
