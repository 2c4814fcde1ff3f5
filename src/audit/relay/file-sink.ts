import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { OutboxRecord } from '../audit.repository';
import type { AuditSink } from './audit-sink';

/**
 * The embedded default: events appended to a JSON-lines file, one canonical event per
 * line, fsync'd before the relay marks them published. A crash between the write and
 * the mark repeats those lines after restart (same ids), as Kafka delivery would.
 */
export class FileAuditSink implements AuditSink {
  readonly kind = 'file';
  private handle: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;

  constructor(readonly path: string) {}

  get destination(): string {
    return `file ${this.path}`;
  }

  async publish(records: readonly OutboxRecord[]): Promise<void> {
    if (records.length === 0) return;
    const handle = await this.open();
    try {
      await handle.write(records.map((r) => `${r.body}\n`).join(''));
      await handle.datasync();
    } catch (err) {
      // A failed write may have left a partial line; reopening ends it, so the retry starts a fresh line.
      await this.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    const handle = this.handle ?? (await this.opening?.catch(() => undefined));
    this.handle = undefined;
    this.opening = undefined;
    await handle?.close().catch(() => undefined);
  }

  private async open(): Promise<FileHandle> {
    if (this.handle !== undefined) return this.handle;
    this.opening ??= (async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const handle = await open(this.path, 'a+', 0o600);
      await endWithNewline(handle);
      this.handle = handle;
      return handle;
    })().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }
}

/** Terminates a partial last line (from a write cut short) so the next event starts a line of its own. */
async function endWithNewline(handle: FileHandle): Promise<void> {
  const { size } = await handle.stat();
  if (size === 0) return;
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, size - 1);
  if (last[0] !== 0x0a) await handle.write('\n');
}
