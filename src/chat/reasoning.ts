/**
 * A thinking model's reasoning, apart from its answer: the text it writes between <think> and </think> (Qwen3,
 * Qwen3.5, DeepSeek-R1's distills, SmolLM3) comes back as `reasoning_content`, the rest as content and tool calls.
 * Where the generation prompt already opened <think> (Qwen3.5's and the R1 distills' do), the reply starts inside it.
 */
import { EdgeTrimmer, partialTail } from './stop.ts';
import type { ReplyPart } from './tool_calls.ts';

export const THINK_OPEN = '<think>';
export const THINK_CLOSE = '</think>';

/** Whether a template's model writes <think> blocks (its template reads them back). */
export const thinksIn = (template: string | null): boolean => template !== null && template.includes(THINK_CLOSE);

/** Whether a rendered prompt leaves the reply inside an opened <think>. */
export const opensThinking = (prompt: string): boolean => /<think>\s*$/.test(prompt);

/** What a forced reply's opening (a tool call's) needs in front of it when the prompt opened <think>: its end. */
export const SKIP_THINKING = `\n${THINK_CLOSE}\n\n`;

/** A reply's splitter: the content and calls of whatever text it is given. */
export interface Reply {
  push(text: string): ReplyPart;
  end(): ReplyPart;
  readonly done: boolean;
  readonly calls: number;
}

/**
 * Splits the reasoning off the front of a reply, as it streams; what follows </think> (less the whitespace after it)
 * goes to `inner`. A reply that does not open with <think> (and did not start inside one) passes to `inner` whole.
 * Whitespace at the reasoning's ends is dropped, as the templates' `| trim` drops it when it is sent back.
 */
export class ReasoningSplitter implements Reply {
  private mode: 'start' | 'think' | 'after';
  private held = '';
  private readonly edges = new EdgeTrimmer(); // the reasoning's, as it streams
  private trimAfter = false; // the whitespace right after </think> is dropped

  constructor(private readonly inner: Reply, inside: boolean) {
    this.mode = inside ? 'think' : 'start';
  }

  get done(): boolean {
    return this.inner.done;
  }

  get calls(): number {
    return this.inner.calls;
  }

  push(text: string): ReplyPart {
    if (this.mode === 'after') return this.after(text);
    this.held += text;
    if (this.mode === 'start') {
      const lead = this.held.trimStart();
      if (lead === '' || (lead.length < THINK_OPEN.length && THINK_OPEN.startsWith(lead))) return empty();
      if (!lead.startsWith(THINK_OPEN)) {
        this.mode = 'after';
        return this.after(this.taken());
      }
      this.held = lead.slice(THINK_OPEN.length);
      this.mode = 'think';
    }
    const at = this.held.indexOf(THINK_CLOSE);
    const out = empty();
    if (at < 0) {
      const safe = this.held.length - partialTail(this.held, [THINK_CLOSE]);
      out.reasoning = this.edges.push(this.held.slice(0, safe));
      this.held = this.held.slice(safe);
      return out;
    }
    out.reasoning = this.edges.push(this.held.slice(0, at));
    const rest = this.held.slice(at + THINK_CLOSE.length);
    this.held = '';
    this.mode = 'after';
    this.trimAfter = true;
    return merge(out, this.after(rest));
  }

  end(): ReplyPart {
    if (this.mode === 'start') return merge(this.inner.push(this.taken()), this.inner.end());
    const out = empty();
    if (this.mode === 'think') out.reasoning = this.edges.push(this.taken()); // cut off mid-thought: what it wrote
    return merge(out, this.inner.end());
  }

  private after(text: string): ReplyPart {
    if (this.trimAfter) {
      text = text.trimStart();
      if (text === '') return empty();
      this.trimAfter = false;
    }
    return this.inner.push(text);
  }

  private taken(): string {
    const t = this.held;
    this.held = '';
    return t;
  }

}

const empty = (): ReplyPart => ({ content: '', calls: [] });

function merge(a: ReplyPart, b: ReplyPart): ReplyPart {
  const reasoning = (a.reasoning ?? '') + (b.reasoning ?? '');
  return { content: a.content + b.content, calls: [...a.calls, ...b.calls], ...(reasoning ? { reasoning } : {}) };
}
