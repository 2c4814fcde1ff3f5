import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty, fuzzTimeout } from '../../test/support/fuzz';
import type { JsonObject, JupyterMessage, MessageHeader } from './messages';
import { DELIMITER, MessageSigner, WireCodec, WireError } from './wire';

const KEY = 'fuzz-key-1f0c';
const codec = (): WireCodec => new WireCodec(new MessageSigner(KEY, 'hmac-sha256'));
const DELIMITER_BYTES = Buffer.from(DELIMITER, 'utf8');

/** Types whose content decode checks; round-trip messages avoid them so content stays free-form. */
const INTERPRETED = new Set([
  'status',
  'stream',
  'error',
  'display_data',
  'update_display_data',
  'execute_result',
  'execute_input',
  'clear_output',
  'input_request',
  'execute_reply',
  'kernel_info_reply',
  'interrupt_reply',
  'shutdown_reply',
]);

const nonEmpty = fc.string({ minLength: 1, maxLength: 20 });
const jsonObject = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), {
  maxKeys: 5,
}) as fc.Arbitrary<JsonObject>;

const header = (msgType: fc.Arbitrary<string>): fc.Arbitrary<MessageHeader> =>
  fc.record({
    msg_id: nonEmpty,
    msg_type: msgType,
    session: nonEmpty,
    username: fc.string({ maxLength: 10 }),
    date: fc.string({ maxLength: 30 }),
    version: fc.string({ maxLength: 5 }),
  });

const buffer = fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b));
const identity = buffer.filter((b) => !b.equals(DELIMITER_BYTES));

const message: fc.Arbitrary<JupyterMessage<string, JsonObject>> = fc.record({
  channel: fc.constantFrom('shell', 'iopub', 'control', 'stdin') as fc.Arbitrary<'iopub'>,
  header: header(nonEmpty.filter((t) => !INTERPRETED.has(t))),
  parent_header: fc.oneof(fc.constant({}), header(nonEmpty)),
  metadata: jsonObject,
  content: jsonObject,
  buffers: fc.array(buffer, { maxLength: 3 }),
});

/** What the message is after a JSON trip (JSON has no -0, for one). */
const viaJson = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** Arbitrary bytes, JSON objects that look like headers, and the delimiter itself. */
const frame = fc.oneof(
  buffer,
  fc.constant(DELIMITER_BYTES),
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  header(fc.oneof(fc.constantFrom(...INTERPRETED), fc.string())).map((h) =>
    Buffer.from(JSON.stringify(h)),
  ),
  jsonObject.map((o) => Buffer.from(JSON.stringify(o))),
);

/**
 * Frame lists that reach past the signature check: the four frames after the
 * delimiter are arbitrary, but signed with the right key, as a buggy or hostile
 * kernel holding the key could send them.
 */
const signedHostileFrames = fc
  .record({
    identities: fc.array(identity, { maxLength: 2 }),
    header: fc.oneof(
      header(fc.oneof(fc.constantFrom(...INTERPRETED), fc.string())).map((h) =>
        Buffer.from(JSON.stringify(h)),
      ),
      frame,
    ),
    rest: fc.tuple(
      frame,
      frame,
      fc.oneof(
        frame,
        jsonObject.map((o) => Buffer.from(JSON.stringify(o))),
      ),
    ),
    buffers: fc.array(buffer, { maxLength: 2 }),
  })
  .map(({ identities, header: h, rest, buffers }) => {
    const parts = [h, ...rest];
    const signature = Buffer.from(new MessageSigner(KEY, 'hmac-sha256').sign(parts), 'ascii');
    return [...identities, DELIMITER_BYTES, signature, ...parts, ...buffers];
  });

/** Only the parser's own error may escape decode; anything else is a crash on hostile input. */
function decodesOrRefuses(frames: readonly Buffer[]): void {
  try {
    codec().decode(frames, 'iopub');
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
  }
}

describe(WireCodec.name, () => {
  it(
    'decodes what it encoded, identities and buffers included',
    () => {
      checkProperty(
        'wire: encode/decode round trip',
        fc.property(message, fc.array(identity, { maxLength: 3 }), (msg, identities) => {
          const wire = codec();
          const decoded = wire.decode(wire.encode(msg, identities), msg.channel);
          expect(decoded.identities).toEqual(identities);
          expect(decoded.message).toEqual({
            ...viaJson({ ...msg, buffers: [] }),
            buffers: msg.buffers,
          });
        }),
      );
    },
    fuzzTimeout(),
  );

  it(
    'refuses a signed message with any single byte of its signed frames changed',
    () => {
      checkProperty(
        'wire: single-byte change refused',
        fc.property(
          message,
          fc.integer({ min: 0, max: 4 }),
          fc.nat(),
          fc.integer({ min: 1, max: 255 }),
          (msg, frameOffset, position, delta) => {
            const frames = codec().encode(msg);
            // Frame 0 is the delimiter; 1 is the signature, 2-5 the signed JSON frames.
            const target = frames[1 + frameOffset];
            const at = position % target.length;
            target[at] = (target[at] + delta) % 256;
            const error = catchError(() => codec().decode(frames, 'iopub'));
            expect(error).toBeInstanceOf(WireError);
            expect((error as WireError).reason).toBe('bad_signature');
          },
        ),
      );
    },
    fuzzTimeout(),
  );

  it(
    'throws nothing but WireError on arbitrary frame lists',
    () => {
      checkProperty(
        'wire: arbitrary frames',
        fc.property(fc.array(frame, { maxLength: 10 }), (frames) => {
          decodesOrRefuses(frames);
          // The receive path drops and counts instead of throwing.
          const wire = codec();
          const accepted = wire.accept(frames, 'iopub');
          const { badSignatures, missingDelimiter, malformed } = wire.stats();
          expect(badSignatures + missingDelimiter + malformed).toBe(accepted === undefined ? 1 : 0);
        }),
      );
    },
    fuzzTimeout(),
  );

  it(
    'throws nothing but WireError on correctly signed but hostile frames',
    () => {
      checkProperty(
        'wire: signed hostile frames',
        fc.property(signedHostileFrames, (frames) => {
          const error = catchError(() => codec().decode(frames, 'iopub'));
          if (error !== undefined) {
            expect(error).toBeInstanceOf(WireError);
            // The signature was right, so a refusal is about the content.
            expect((error as WireError).reason).toBe('malformed');
          }
        }),
      );
    },
    fuzzTimeout(),
  );
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
