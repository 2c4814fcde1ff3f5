/**
 * Keeps the last `capBytes` bytes written to it. A kernel's stdout/stderr is
 * mostly start-up noise and crash traces; the tail is what explains a death.
 */
export class RingLog {
  private chunks: Buffer[] = [];
  private size = 0;
  private droppedBytes = 0;

  constructor(private readonly capBytes: number) {
    if (!Number.isInteger(capBytes) || capBytes <= 0)
      throw new Error('capBytes must be a positive integer');
  }

  append(chunk: Buffer | string): void {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (buf.length >= this.capBytes) {
      this.droppedBytes += this.size + buf.length - this.capBytes;
      buf = buf.subarray(buf.length - this.capBytes);
      this.chunks = [];
      this.size = 0;
    }
    this.chunks.push(buf);
    this.size += buf.length;
    while (this.size > this.capBytes) {
      const head = this.chunks[0];
      const excess = this.size - this.capBytes;
      if (head.length <= excess) {
        this.chunks.shift();
        this.size -= head.length;
        this.droppedBytes += head.length;
      } else {
        this.chunks[0] = head.subarray(excess);
        this.size -= excess;
        this.droppedBytes += excess;
      }
    }
  }

  /** Bytes discarded so far to stay within the cap. */
  get dropped(): number {
    return this.droppedBytes;
  }

  /** Bytes ever appended; a mark for {@link since}. */
  get written(): number {
    return this.size + this.droppedBytes;
  }

  /** Text appended after `mark` (a former {@link written}), as far as it is still kept. */
  since(mark: number): string {
    const skip = Math.max(0, mark - this.droppedBytes);
    return Buffer.concat(this.chunks, this.size).subarray(skip).toString('utf8');
  }

  get byteLength(): number {
    return this.size;
  }

  toString(): string {
    const text = Buffer.concat(this.chunks, this.size).toString('utf8');
    return this.droppedBytes > 0 ? `[… ${this.droppedBytes} earlier bytes dropped]\n${text}` : text;
  }
}
