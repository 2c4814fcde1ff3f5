import { describe, expect, it } from 'vitest';
import { RingLog } from './ring-log';

describe(RingLog.name, () => {
  describe('append', () => {
    it('keeps everything below the cap', () => {
      const log = new RingLog(100);
      log.append('hello ');
      log.append(Buffer.from('world'));
      expect(log.toString()).toBe('hello world');
      expect(log.dropped).toBe(0);
    });

    it('keeps only the last capBytes bytes and says how many were dropped', () => {
      const log = new RingLog(8);
      for (const chunk of ['abc', 'defg', 'hijkl']) log.append(chunk);
      expect(log.byteLength).toBe(8);
      expect(log.dropped).toBe(4);
      expect(log.toString()).toBe('[… 4 earlier bytes dropped]\nefghijkl');
    });

    it('keeps the tail of a single chunk larger than the cap', () => {
      const log = new RingLog(4);
      log.append('ab');
      log.append('0123456789');
      expect(log.toString()).toBe('[… 8 earlier bytes dropped]\n6789');
    });
  });

  describe('since', () => {
    it('returns what was appended after a mark, as far as it is kept', () => {
      const log = new RingLog(8);
      log.append('old-');
      const mark = log.written;
      log.append('new');
      expect(log.since(mark)).toBe('new');
      log.append('er-and-more');
      expect(log.since(mark)).toBe('and-more');
    });
  });
});
