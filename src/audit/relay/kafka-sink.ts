import {
  CompressionTypes,
  Kafka,
  logLevel,
  Partitioners,
  type IHeaders,
  type KafkaConfig,
  type LogEntry,
  type Message,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import { traceProduce } from '../../telemetry/spans';
import type { OutboxRecord } from '../audit.repository';
import { silentAuditLogger, type AuditLogger, type AuditSink } from './audit-sink';

/** How the sink reaches Kafka and names what it sends. */
export interface KafkaSinkOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly ssl: boolean;
  readonly sasl?: {
    readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
    readonly username: string;
    readonly password: string;
  };
  readonly topic: string;
  /** Create the topic when it is missing (needs the right to). */
  readonly createTopic: boolean;
  readonly topicPartitions: number;
  readonly topicReplicationFactor: number;
  /** CloudEvents `ce_source`. */
  readonly source: string;
  /** Per request (KAFKA_REQUEST_TIMEOUT); the relay bounds a whole publish separately. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** Establishing a broker connection (KAFKA_CONNECTION_TIMEOUT). Default 3 s. */
  readonly connectionTimeoutMs?: number;
  /**
   * Bytes of messages in one produce request at most (keys, values and headers);
   * a publish larger than this is sent as several requests, in order. Default 900 KiB,
   * under the broker's default `message.max.bytes` (1 MiB) with room for the
   * record framing.
   */
  readonly maxRequestBytes?: number;
  readonly logger?: AuditLogger;
}

/** Prefix of CloudEvents `ce_type`: `rungate.audit.v1.cell.execution.requested`. */
export const CLOUDEVENTS_TYPE_PREFIX = 'rungate.audit.v1.';

const DEFAULT_MAX_REQUEST_BYTES = 900 * 1024;

/** Framing of one record beside its key, value and headers (lengths, offsets, timestamps): generous. */
const RECORD_OVERHEAD_BYTES = 32;

/** A message's size in a record batch, near enough to bound a request. */
function messageSize(m: Message): number {
  let size =
    RECORD_OVERHEAD_BYTES + (m.value as Buffer).length + Buffer.byteLength(m.key as string);
  for (const [name, value] of Object.entries(m.headers ?? {})) {
    size += 8 + name.length + Buffer.byteLength(value as string);
  }
  return size;
}

/**
 * Publishes audit events to Kafka: key = chain (session id or `gateway`), value = the
 * event JSON, headers = W3C trace context and CloudEvents binary-mode attributes.
 *
 * The producer is idempotent with acks=all and one request in flight, so a batch
 * retried inside KafkaJS is neither duplicated nor reordered within a partition.
 * KafkaJS's own retries are bounded here (its idempotent default is unbounded, which
 * would hang the relay while a broker is away); the relay retries whole batches with
 * backoff instead. After a failed send the producer is replaced, so a producer whose
 * sequence state may be confused is never reused.
 */
export class KafkaAuditSink implements AuditSink {
  readonly kind = 'kafka';
  private readonly kafka: Kafka;
  private readonly logger: AuditLogger;
  private producer: Producer | undefined;
  private topicChecked = false;

  constructor(private readonly options: KafkaSinkOptions) {
    this.logger = options.logger ?? silentAuditLogger;
    const config: KafkaConfig = {
      clientId: options.clientId,
      brokers: [...options.brokers],
      ssl: options.ssl,
      sasl: saslOf(options.sasl),
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: options.requestTimeoutMs ?? 10_000,
      // KafkaJS's default too; said here because a broker that accepts and never answers
      // must fail a request after requestTimeout, not hold the relay.
      enforceRequestTimeout: true,
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2_000 },
      logLevel: logLevel.WARN,
      logCreator: () => (entry) => this.kafkaLog(entry),
    };
    this.kafka = new Kafka(config);
  }

  get destination(): string {
    return `kafka topic ${this.options.topic} on ${this.options.brokers.join(',')}`;
  }

  /**
   * Sends `records` in order, as produce requests of at most `maxRequestBytes` each,
   * one after the other: a request is sent once the one before it is acknowledged, so
   * a chain's later events are never acknowledged before its earlier ones. Resolves
   * when every request is acknowledged by all in-sync replicas.
   */
  async publish(records: readonly OutboxRecord[]): Promise<void> {
    if (records.length === 0) return;
    const producer = await this.ready();
    try {
      // PRODUCER spans in the events' own traces, when spans are exported (telemetry/spans.ts).
      await traceProduce(this.options.topic, this.options.brokers, records, async () => {
        for (const messages of this.requests(records)) {
          await producer.send({
            topic: this.options.topic,
            acks: -1,
            compression: CompressionTypes.None,
            messages,
          });
        }
      });
    } catch (err) {
      await this.dropProducer();
      throw err;
    }
  }

  /**
   * The messages of `records`, cut into requests of at most `maxRequestBytes` (at
   * least one message each). The bound holds for the whole request, so it holds for
   * each partition's record batch, however the keys fall: a broker refuses a batch
   * larger than its `message.max.bytes` (1 MiB by default).
   */
  private *requests(records: readonly OutboxRecord[]): Generator<Message[]> {
    const max = this.options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    let request: Message[] = [];
    let bytes = 0;
    for (const r of records) {
      const message = this.message(r);
      const size = messageSize(message);
      if (request.length > 0 && bytes + size > max) {
        yield request;
        request = [];
        bytes = 0;
      }
      request.push(message);
      bytes += size;
    }
    if (request.length > 0) yield request;
  }

  async close(): Promise<void> {
    await this.dropProducer();
  }

  /** The Kafka message of one outbox record. */
  message(r: OutboxRecord): Message {
    const headers: IHeaders = {
      ce_specversion: '1.0',
      ce_id: r.id,
      ce_type: `${CLOUDEVENTS_TYPE_PREFIX}${r.type}`,
      ce_source: this.options.source,
      ce_time: r.time,
      ce_subject: r.chain,
      'content-type': 'application/json',
    };
    if (r.traceparent !== null) headers.traceparent = r.traceparent;
    if (r.tracestate !== null) headers.tracestate = r.tracestate;
    // A buffer: its size is known without another pass over the text, and KafkaJS
    // would convert a string anyway.
    return { key: r.chain, value: Buffer.from(r.body), headers };
  }

  private async ready(): Promise<Producer> {
    if (this.options.createTopic && !this.topicChecked) {
      await this.ensureTopic();
      this.topicChecked = true;
    }
    if (this.producer !== undefined) return this.producer;
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2_000 },
    });
    try {
      await producer.connect();
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw err;
    }
    this.producer = producer;
    return producer;
  }

  private async ensureTopic(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const topics = await admin.listTopics();
      if (topics.includes(this.options.topic)) return;
      const created = await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic: this.options.topic,
            numPartitions: this.options.topicPartitions,
            replicationFactor: this.options.topicReplicationFactor,
          },
        ],
      });
      if (created) this.logger.log(`created Kafka topic ${this.options.topic}`);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  private async dropProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect().catch(() => undefined);
  }

  /**
   * KafkaJS logs every failed connection attempt; while a broker is away that is a
   * line per retry. The relay reports failures itself, so these go to debug.
   */
  private kafkaLog(entry: LogEntry): void {
    const message = entry.log.message;
    // We bound the idempotent producer's retries on purpose (see the class comment).
    if (message.startsWith('Limiting retries for the idempotent producer')) return;
    this.logger.debug?.(`kafkajs ${entry.namespace}: ${message}`);
  }
}

function saslOf(sasl: KafkaSinkOptions['sasl']): SASLOptions | undefined {
  if (sasl === undefined) return undefined;
  switch (sasl.mechanism) {
    case 'plain':
      return { mechanism: 'plain', username: sasl.username, password: sasl.password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username: sasl.username, password: sasl.password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username: sasl.username, password: sasl.password };
  }
}
