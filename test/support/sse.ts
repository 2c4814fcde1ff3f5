/** One Server-Sent Event. */
export interface SseEvent {
  event: string;
  data: unknown;
  receivedAt: number;
}

/**
 * Reads an SSE stream in the background and lets a test wait for the event it
 * expects (with a deadline) instead of sleeping.
 */
export class SseReader {
  readonly events: SseEvent[] = [];
  private readonly waiters: Array<{
    match: (e: SseEvent) => boolean;
    resolve: (e: SseEvent) => void;
  }> = [];
  private readonly abort = new AbortController();
  private done: Promise<void> = Promise.resolve();

  static async open(url: string, token?: string): Promise<SseReader> {
    const r = new SseReader();
    const res = await fetch(url, {
      headers: {
        accept: 'text/event-stream',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      signal: r.abort.signal,
    });
    if (res.status !== 200 || !res.body)
      throw new Error(`stream answered ${res.status}: ${await res.text()}`);
    r.done = r.pump(res.body);
    return r;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let idx: number;
        while ((idx = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, idx);
          buf = buf.slice(idx + 2);
          this.dispatch(block);
        }
      }
    } catch {
      // aborted by close()
    }
  }

  private dispatch(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
    }
    if (data.length === 0) return;
    let parsed: unknown = data.join('\n');
    try {
      parsed = JSON.parse(parsed as string);
    } catch {
      // plain text data
    }
    const e: SseEvent = { event, data: parsed, receivedAt: Date.now() };
    this.events.push(e);
    for (const w of [...this.waiters]) {
      if (w.match(e)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  }

  /** Resolves with the first event (already seen or coming) that matches, or fails at the deadline. */
  waitFor(
    match: (e: SseEvent) => boolean,
    timeoutMs = 10_000,
    what = 'an event',
  ): Promise<SseEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `no ${what} within ${timeoutMs} ms; saw: ${this.events.map((e) => e.event).join(', ')}`,
          ),
        );
      }, timeoutMs);
      this.waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}
