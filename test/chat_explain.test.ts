/**
 * The chat example's error banner (examples/chat/explain.ts) goes by the error's code: words in a URL or
 * a file name ("offline", "cors", "404") do not turn a bad file into a network failure.
 */
import { describe, expect, it, vi } from 'vitest';
import { EmberError } from '../src/errors.ts';
import { connectError, htmlError, statusError } from '../src/loader/http.ts';
import { explain } from '../examples/chat/explain.ts';

// The example imports 'emberlm/client' as an app would; here that is the sources.
vi.mock('emberlm/client', async () => ({ isEmberError: (await import('../src/errors.ts')).isEmberError }));

const URL_ = 'http://127.0.0.1:8012/offline-mirror/cors-404/garbage.gguf';
const title = (e: unknown, what: 'load' | 'reply' = 'load') => explain(e, what).title;
const answer = (status: number) => new Response('', { status });

describe('explain', () => {
  it('a bad file is a bad file, whatever its URL says', () => {
    const e = new EmberError('BAD_FILE', `${URL_}: not a GGUF file (magic "abcd", expected "GGUF")`, { url: URL_ });
    expect(title(e)).toBe('Not a model file emberlm can read');
    expect(explain(e, 'load').detail).toBe(`BAD_FILE: ${URL_}: not a GGUF file (magic "abcd", expected "GGUF")`);
    expect(title(htmlError(URL_))).toBe('Not a model file emberlm can read');
    expect(title(new EmberError('UNSUPPORTED', `${URL_}: architecture "rwkv6"`))).toBe('This model is not supported yet');
  });

  it('network errors by their status, then by the words after the URL', () => {
    expect(title(statusError(URL_, answer(404)))).toBe('Model not found');
    expect(title(statusError(URL_, answer(403)))).toBe('Access denied');
    expect(title(statusError(URL_, answer(503)))).toBe('The model server answered with an error');
    expect(title(connectError(URL_, new TypeError('Failed to fetch')))).toBe('Could not reach the model server');
    const stopped = new EmberError('NETWORK', `${URL_}: the download stopped after 10 of 20 bytes (reset); loading again resumes from there`, { url: URL_ });
    expect(title(stopped)).toBe('The download stopped');
    // "the download stopped" in the URL alone does not make a refused connection an interrupted download
    const odd = 'http://h/the download stopped/m.gguf';
    expect(title(connectError(odd, new TypeError('Failed to fetch')))).toBe('Could not reach the model server');
  });

  it('device, argument and other codes', () => {
    expect(title(new EmberError('DEVICE', 'WebGPU is not available in this browser (navigator.gpu is missing)', { webgpu: false }))).toBe('No WebGPU in this browser');
    expect(title(new EmberError('DEVICE', 'no WebGPU adapter was found (check chrome://gpu)'))).toBe('No usable GPU found');
    expect(title(new EmberError('DEVICE', 'the GPU device was lost (unknown); reload the model'))).toBe('The GPU stopped');
    expect(title(new EmberError('BAD_ARGUMENT', 'the model URL "http://" is not a valid URL'))).toBe('Not a model address');
    expect(title(new EmberError('BAD_ARGUMENT', 'topP must be in (0, 1], got 2'), 'reply')).toBe('The reply failed');
    expect(title(new EmberError('CONTEXT_OVERFLOW', 'prompt of 9000 tokens'), 'reply')).toBe('The conversation is too long');
    expect(title(new TypeError('x is undefined (404 cors offline)'))).toBe('The model did not load');
  });
});
