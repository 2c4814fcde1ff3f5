import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTopic,
  pathExists,
  readMessages,
  startKafka,
  testKafka,
  uniqueTopic,
  type KafkaBroker,
} from '../support/kafka';

/** Keyed messages with headers, as the audit relay sends them. */
function auditLikeMessages(sessionId: string, count: number, batch: string) {
  return Array.from({ length: count }, (_, seq) => ({
    key: sessionId,
    value: JSON.stringify({ batch, seq }),
    headers: {
      'event-type': 'execution.finished',
      seq: String(seq),
      traceparent: `00-${batch}-01`,
    },
  }));
}

async function withIdempotentProducer<T>(
  brokers: string,
  use: (producer: Producer) => Promise<T>,
): Promise<T> {
  const producer = testKafka(brokers, 'rungate-test-producer').producer({
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  try {
    return await use(producer);
  } finally {
    await producer.disconnect();
  }
}

function portAccepts(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((done) => {
    const socket = connect({ host, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

describe('startKafka', () => {
  let broker: KafkaBroker;
  const topic = uniqueTopic('kafka-broker-test');
  const sessionId = randomUUID();

  beforeAll(async () => {
    broker = await startKafka();
    await createTopic(broker.brokers, topic);
  });

  afterAll(async () => {
    await broker?.stop();
  });

  it('round-trips keyed messages with headers, in order, through an idempotent producer', async () => {
    const sent = auditLikeMessages(sessionId, 5, 'first');
    const [result] = await withIdempotentProducer(broker.brokers, (producer) =>
      producer.send({ topic, acks: -1, messages: sent }),
    );
    expect(result).toMatchObject({ topicName: topic, errorCode: 0, baseOffset: '0' });

    const received = await readMessages({ brokers: broker.brokers, topic, count: 5 });

    expect(received.map((message) => message.offset)).toEqual(['0', '1', '2', '3', '4']);
    expect(received.map(({ key, value, headers }) => ({ key, value, headers }))).toEqual(sent);
  });

  it('keeps its topics and data across restart() on the same address', async () => {
    const before = broker.brokers;
    await broker.restart();

    expect(broker.brokers).toBe(before);
    expect(broker.running).toBe(true);
    const more = auditLikeMessages(sessionId, 3, 'after-restart');
    await withIdempotentProducer(broker.brokers, (producer) =>
      producer.send({ topic, acks: -1, messages: more }),
    );
    const received = await readMessages({ brokers: broker.brokers, topic, count: 8 });

    expect(received.map((message) => message.value)).toEqual([
      ...auditLikeMessages(sessionId, 5, 'first').map((message) => message.value),
      ...more.map((message) => message.value),
    ]);
    expect(received.at(-1)?.headers).toEqual(more.at(-1)?.headers);
  });

  it('comes back after kill() (a crash) with the data it had acknowledged', async () => {
    await broker.kill();
    expect(broker.running).toBe(false);
    expect(await portAccepts(broker.brokers)).toBe(false);

    await broker.start();
    const received = await readMessages({ brokers: broker.brokers, topic, count: 8 });

    expect(received).toHaveLength(8);
  });

  it('auto-creates a topic on first produce', async () => {
    const fresh = uniqueTopic('kafka-broker-auto');
    await withIdempotentProducer(broker.brokers, (producer) =>
      producer.send({ topic: fresh, acks: -1, messages: [{ key: 'k', value: 'v' }] }),
    );

    const [message] = await readMessages({ brokers: broker.brokers, topic: fresh, count: 1 });

    expect(message).toMatchObject({ key: 'k', value: 'v' });
  });
});

describe('KafkaBroker', () => {
  describe('pause', () => {
    it('freezes the broker until resume()', async () => {
      const broker = await startKafka();
      try {
        const impatient = new Kafka({
          clientId: 'rungate-test-impatient',
          brokers: [broker.brokers],
          logLevel: logLevel.NOTHING,
          requestTimeout: 1_000,
          retry: { retries: 0 },
        }).admin();
        await impatient.connect();

        await broker.pause();
        await expect(impatient.listTopics()).rejects.toThrow();
        await broker.resume();

        await expect(impatient.listTopics()).resolves.toBeInstanceOf(Array);
        await impatient.disconnect();
      } finally {
        await broker.stop();
      }
    });
  });

  describe('stop', () => {
    it('ends the broker and deletes its directory', async () => {
      const broker = await startKafka();
      expect(await portAccepts(broker.brokers)).toBe(true);

      await broker.stop();

      expect(broker.running).toBe(false);
      expect(await portAccepts(broker.brokers)).toBe(false);
      expect(await pathExists(broker.dir)).toBe(false);
      await expect(broker.start()).rejects.toThrow(/stopped/);
    });
  });

  describe('start', () => {
    it("fails with the broker's own explanation when it cannot start", async () => {
      await expect(startKafka({ properties: { 'num.network.threads': 'many' } })).rejects.toThrow(
        /num\.network\.threads/,
      );
    });
  });
});
