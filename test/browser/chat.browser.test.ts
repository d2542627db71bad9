/**
 * The chat example (examples/chat) as a user meets it, in chromium on SwiftShader: name a model by its Hub id
 * (resolved on a local mock of the Hub, `?hub=`), set the
 * temperature to 0 in Settings, type, press Enter, watch the reply stream; Stop; a 404; a browser without
 * WebGPU. Greedy replies must equal llama.cpp's for the oracle prompts (stories260K has no chat template,
 * so one user message is the prompt as it is), and the main thread must have no long task (> 50 ms) while
 * the worker generates. A thinking model (Qwen3.5's template on a bigram model) shows its reasoning folded above the
 * answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bigramModel, toolTemplate, type BigramToken } from '../helpers/bigram_model.ts';
import type { ViteDevServer } from 'vite';
import { serveExample } from './example_server.ts';
import type { Page } from 'playwright-core';
import { sharedModelPath } from '../helpers/models.ts';
import { readOracle } from '../helpers/oracle.ts';
import { collectLogs, launchChromium, type Chromium } from './chromium.ts';
import { serveFiles, type FileServer } from './file_server.ts';
import { MockHub } from '../helpers/mock_hub.ts';

const oracle = readOracle('stories260K.llama-cpp.json').results;

/** Qwen3.5's chat template on a bigram model: after its prompt's "<think>\n" it writes THOUGHT, </think>, ANSWER, EOS. */
const THOUGHT = 'The user asks about Paris.';
const ANSWER = 'Paris is sunny.';
function thinker(): Uint8Array {
  const extra = ([['<|im_start|>', 'control'], ['<|im_end|>', 'control'], ['<think>', 'user'], ['</think>', 'user'], [THOUGHT, 'user'], ['\n\n', 'user'], [ANSWER, 'user']] as const)
    .map(([text, type]): BigramToken => ({ text, type }));
  return bigramModel(extra, ['<0x0A>', THOUGHT, '</think>', '\n\n', ANSWER, '</s>'], toolTemplate('Qwen3.5-4B')).bytes;
}
const STORIES_ID = 'ggml-org/models/tinyllamas/stories260K.gguf'; // where the Hub has it
const STORIES = '/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf';
const WAIT = { timeout: 150_000 };

/** A main-thread task over 50 ms, and how much of it was script (Long Animation Frames attribution). */
interface LongTask { start: number; duration: number; script: number }
declare global {
  interface Window { __longTasks: LongTask[] }
}

/** Every long animation frame of the page (> 50 ms of main-thread work), with the time its scripts took. */
function observeLongTasks(): void {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries() as (PerformanceEntry & { scripts: { duration: number }[] })[]) {
      const script = e.scripts.reduce((t, s) => t + s.duration, 0);
      window.__longTasks.push({ start: e.startTime, duration: e.duration, script });
    }
  }).observe({ type: 'long-animation-frame', buffered: true });
}

async function setSettings(page: Page, temperature: number, maxTokens: number): Promise<void> {
  await page.click('#settings-button');
  await page.locator('#temperature').evaluate((el, t) => {
    (el as HTMLInputElement).value = String(t);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, temperature);
  await page.fill('#max-tokens', String(maxTokens));
  await page.click('#settings button[value=close]');
}

/** Types a message and presses Enter; resolves with the reply's list item once it is done or stopped. */
async function say(page: Page, text: string) {
  const before = await page.locator('li.msg.assistant').count();
  await page.fill('#prompt', text);
  await page.press('#prompt', 'Enter');
  return page.locator('li.msg.assistant').nth(before);
}

describe('examples/chat in chromium (WebGPU on SwiftShader)', () => {
  let server: ViteDevServer;
  let hub: MockHub; // another origin, as the Hub is
  let noCors: FileServer;
  let browser: Chromium;
  const made = mkdtempSync(join(tmpdir(), 'emberlm-thinker-'));
  beforeAll(async () => {
    writeFileSync(join(made, 'thinker.gguf'), thinker());
    hub = await new MockHub()
      .repo('ggml-org/models', [{ path: 'tinyllamas/stories260K.gguf', fixture: 'stories260K/stories260K.gguf' }])
      .repo('ember/thinker-GGUF', [{ path: 'thinker.gguf', fixture: join(made, 'thinker.gguf') }]) // (an absolute path)
      .start();
    noCors = await serveFiles({ [STORIES]: sharedModelPath('stories260K/stories260K.gguf') }, { cors: false });
    server = await serveExample('chat');
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await hub?.stop();
    await noCors?.close();
    rmSync(made, { recursive: true });
  });
  /** With EMBERLM_SCREENSHOTS=<dir>, the page as the user sees it at that moment, to look at. */
  const shot = async (page: Page, name: string) => {
    const dir = process.env.EMBERLM_SCREENSHOTS;
    if (dir) await page.screenshot({ path: join(dir, `${name}.png`) });
  };
  const url = () => `${server.resolvedUrls!.local[0]!}?hub=${encodeURIComponent(hub.url)}`;

  it("streams greedy replies equal to llama.cpp's, without long tasks; Stop works; a 404 is explained", async () => {
    browser = await launchChromium();
    const page = await browser.context.newPage();
    const logs = collectLogs(page);
    await page.addInitScript(observeLongTasks);
    await page.setViewportSize({ width: 390, height: 844 }); // a phone
    await page.goto(url());
    await expect.poll(() => page.locator('#adapter').textContent(), WAIT).toMatch(/Your GPU: /);
    expect(await page.isDisabled('#send')).toBe(true);

    // A 404 and a server without CORS are explained, and leave the page ready for another try.
    const failedLoad = async (model: string) => {
      await page.fill('#model-input', model);
      await page.click('#load-button');
      await page.locator('#banner:not([hidden])').waitFor(WAIT);
      await expect.poll(() => page.isDisabled('#load-button'), WAIT).toBe(false);
      return `${await page.textContent('#banner-title')} (${await page.textContent('#banner-code')})`;
    };
    expect(await failedLoad('ggml-org/models/tinyllamas/no-such-model.gguf')).toMatch(/^Model not found \(NETWORK: .*has no file tinyllamas\/no-such-model.gguf/);
    expect(await failedLoad(`${noCors.url}${STORIES}`)).toMatch(/^Could not reach the model server \(NETWORK: .*CORS/);

    // Cancel while the download is held: the load ends quietly and the page is ready for another.
    let releaseDownload!: () => void;
    const held = new Promise<void>((resolve) => (releaseDownload = resolve));
    let requested!: () => void;
    const reached = new Promise<void>((resolve) => (requested = resolve));
    const download = /stories260K\.gguf$/;
    await browser.context.route(download, async (route) => {
      requested();
      await held;
      await route.continue().catch(() => {}); // the worker gave up on it
    });
    await page.fill('#model-input', STORIES_ID);
    await page.click('#load-button');
    await reached; // the worker's request for the file (routes see workers' requests too)
    await shot(page, 'chat-loading');
    await page.click('#cancel-load');
    await page.locator('#progress').waitFor({ state: 'hidden', ...WAIT });
    expect(await page.isHidden('#banner')).toBe(true);
    expect(await page.textContent('#model-name')).toBe('Choose a model');
    expect(await page.isDisabled('#load-button')).toBe(false);
    releaseDownload();
    await browser.context.unroute(download);

    await page.fill('#model-input', STORIES_ID);
    await page.click('#load-button');
    await page.locator('#picker').waitFor({ state: 'hidden', ...WAIT }).catch((e: Error) => {
      throw new Error(`the model did not load: ${e.message}\n${logs.join('\n')}`);
    });
    expect(await page.isHidden('#banner')).toBe(true);
    await setSettings(page, 0, 32);

    // A long frame can come from the machine (here: 2 cores shared with other jobs, rendering in software) rather
    // than the page: the page is to blame for the time its own scripts took in it. One caused by the page comes back
    // every time, so a prompt fails only when all of its tries have a frame with over 50 ms of script.
    const longTasks: { prompt: string; tasks: LongTask[] }[] = [];
    for (const o of oracle) {
      for (let attempt = 1; ; attempt++) {
        await page.click('#new-chat');
        const t0 = await page.evaluate(() => performance.now());
        const reply = await say(page, o.prompt);
        expect(await page.isDisabled('#send')).toBe(true); // busy from Enter on
        await page.locator('li.msg.assistant[data-state=done]').last().waitFor(WAIT);
        const t1 = await page.evaluate(() => performance.now());
        expect(await reply.locator('.bubble').textContent(), o.prompt).toBe(o.full_text.slice(o.prompt.length));
        expect(Number(await reply.getAttribute('data-tokens'))).toBeGreaterThanOrEqual(32);
        expect(await reply.locator('.meta').textContent()).toMatch(/^32 tokens · [\d.]+ tok\/s · TTFT \d+ ms · hit the length limit$/);
        const frames = await page.evaluate(([a, b]) => window.__longTasks.filter((t) => t.start + t.duration > a && t.start < b), [t0, t1]);
        const tasks = frames.filter((t) => t.script > 50);
        const seen = frames.map((t) => `${Math.round(t.duration)} ms (script ${Math.round(t.script)}) at +${Math.round(t.start - t0)} ms`).join(', ') || 'none';
        console.log(`"${o.prompt}" try ${attempt}: ${Math.round(t1 - t0)} ms from Enter to the last token; long frames: ${seen}`);
        if (tasks.length === 0) break;
        if (attempt === 3) {
          longTasks.push({ prompt: o.prompt, tasks });
          break;
        }
      }
    }
    expect(longTasks, 'main-thread frames with over 50 ms of script while generating, in every try').toEqual([]);
    await shot(page, 'chat-reply');

    // Stop during a long reply keeps what was said; the next message works.
    await setSettings(page, 0, 2000);
    await page.click('#new-chat');
    const long = await say(page, oracle[0].prompt);
    await long.locator('.bubble:not(:empty)').waitFor(WAIT);
    await page.click('#stop');
    await page.locator('li.msg.assistant[data-state=stopped]').waitFor(WAIT);
    expect(await long.locator('.meta').textContent()).toMatch(/stopped$/);
    expect(Number(await long.getAttribute('data-tokens'))).toBeLessThan(2000);
    expect(await page.isHidden('#stop')).toBe(true);
    await setSettings(page, 0, 32);
    await page.click('#new-chat');
    const after = await say(page, oracle[1].prompt);
    await page.locator('li.msg.assistant[data-state=done]').waitFor(WAIT);
    expect(await after.locator('.bubble').textContent()).toBe(oracle[1].full_text.slice(oracle[1].prompt.length));

    // "Reply in JSON": the same prompt, its reply held to a JSON object by the grammar in the worker.
    await page.click('#settings-button');
    expect(await page.isHidden('#thinking-setting')).toBe(true); // stories260K's has no template, so no thinking to turn off
    await page.check('#json-mode');
    await shot(page, 'chat-json-setting');
    await page.click('#settings button[value=close]');
    await page.click('#new-chat');
    const json = await say(page, oracle[1].prompt);
    await page.locator('li.msg.assistant[data-state=done]').waitFor(WAIT);
    expect(await json.locator('.bubble').textContent()).toMatch(/^\{"/);
    await shot(page, 'chat-json-reply');
    await page.close();
  }, 400_000);

  it("a thinking model's reasoning streams open above its answer, then folds; the next turn goes on", async () => {
    browser ??= await launchChromium(); // (when run alone)
    const page = await browser.context.newPage();
    const logs = collectLogs(page);
    await page.goto(url());
    await page.fill('#model-input', 'ember/thinker-GGUF/thinker.gguf');
    await page.click('#load-button');
    await page.locator('#picker').waitFor({ state: 'hidden', ...WAIT }).catch((e: Error) => {
      throw new Error(`the model did not load: ${e.message}\n${logs.join('\n')}`);
    });
    await setSettings(page, 0, 64);
    for (const turn of [0, 1]) {
      const reply = await say(page, turn === 0 ? 'What is the weather in Paris?' : 'And tomorrow?');
      await page.locator('li.msg.assistant[data-state=done]').nth(turn).waitFor(WAIT);
      expect(await reply.locator('.thinking .thought').textContent()).toBe(THOUGHT);
      expect(await reply.locator('.thinking summary').textContent()).toBe('Thought for 1 token');
      expect(await reply.locator('.thinking').getAttribute('open')).toBeNull(); // folded once the answer came
      expect(await reply.locator('.bubble').textContent()).toBe(ANSWER);
    }
    await shot(page, 'chat-thinking-folded');
    await page.locator('li.msg.assistant >> nth=1').locator('.thinking summary').click();
    await shot(page, 'chat-thinking-open');
    // Settings: "Think before answering" off renders the template with enable_thinking false, whose prompt closes an
    // empty <think> itself: this model's reply after "</think>\n\n" is the answer alone, nothing folded above it.
    await page.click('#settings-button');
    expect(await page.isVisible('#thinking')).toBe(true);
    await page.uncheck('#thinking');
    await shot(page, 'chat-thinking-setting');
    await page.click('#settings button[value=close]');
    await page.click('#new-chat');
    const plain = await say(page, 'What is the weather in Paris?');
    await page.locator('li.msg.assistant[data-state=done]').last().waitFor(WAIT);
    expect(await plain.locator('.thinking').count()).toBe(0);
    expect(await plain.locator('.bubble').textContent()).toBe(ANSWER);
    await page.close();
  }, 200_000);

  it('explains on arrival that a browser without WebGPU cannot run models', async () => {
    const page = await browser.context.newPage();
    await page.addInitScript(() => delete (Navigator.prototype as { gpu?: unknown }).gpu);
    await page.goto(url());
    await page.locator('#banner:not([hidden])').waitFor(WAIT);
    expect(await page.textContent('#banner-title')).toBe('No WebGPU in this browser');
    expect(await page.isDisabled('#load-button')).toBe(true);
    expect(await page.isDisabled('.suggestion >> nth=0')).toBe(true);
    await page.close();
  }, 60_000);
});
