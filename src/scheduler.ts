/** One who takes turns; told (`contended()`) when someone joins the line while it holds the engine. */
export interface Holder {
  contended(): void;
}

/**
 * Who may use the model's KV cache and forward pass: one holder at a time, the others in line (FIFO).
 * The holder can see that someone is waiting (`contended`) and is told when someone starts to.
 */
export class Scheduler {
  private holder: Holder | null = null;
  private readonly line: Array<{ who: Holder; grant: (granted: boolean) => void }> = [];

  get contended(): boolean {
    return this.line.length > 0;
  }

  /** Resolves true once `who` holds the engine, or false if `cancel(who)` took it out of the line first. */
  acquire(who: Holder): Promise<boolean> {
    const holder = this.holder;
    if (holder === null) {
      this.holder = who;
      return Promise.resolve(true);
    }
    return new Promise((grant) => {
      this.line.push({ who, grant });
      holder.contended();
    });
  }

  /** Hands the engine to the next in line. */
  release(who: Holder): void {
    if (this.holder !== who) return;
    const next = this.line.shift();
    this.holder = next?.who ?? null;
    next?.grant(true);
    if (this.line.length > 0) next?.who.contended();
  }

  /** Takes `who` out of the line (its acquire resolves false); a no-op for the holder and strangers. */
  cancel(who: Holder): void {
    const i = this.line.findIndex((w) => w.who === who);
    if (i >= 0) this.line.splice(i, 1)[0].grant(false);
  }

  /** Cancels everyone in line. */
  cancelAll(): void {
    for (const w of this.line.splice(0)) w.grant(false);
  }
}

/** A wake-up call that can be waited for again and again: `wait()` resolves at the next `notify()`. */
export class Notifier {
  private waiters: Array<() => void> = [];

  wait(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
}
