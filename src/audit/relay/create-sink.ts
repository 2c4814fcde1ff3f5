import type { AuditConfig } from '../../config/config.types';
import type { AuditLogger, AuditSink } from './audit-sink';
import { FileAuditSink } from './file-sink';
import { KafkaAuditSink } from './kafka-sink';

/** Kafka when brokers are configured, else the JSON-lines file. */
export function createAuditSink(config: AuditConfig, logger?: AuditLogger): AuditSink {
  if (config.kafka === undefined) return new FileAuditSink(config.file);
  return new KafkaAuditSink({
    brokers: config.kafka.brokers,
    clientId: config.kafka.clientId,
    connectionTimeoutMs: config.kafka.connectionTimeoutMs,
    requestTimeoutMs: config.kafka.requestTimeoutMs,
    ssl: config.kafka.ssl,
    sasl: config.kafka.sasl,
    topic: config.topic,
    createTopic: config.createTopic,
    topicPartitions: config.topicPartitions,
    topicReplicationFactor: config.topicReplicationFactor,
    source: config.source,
    logger,
  });
}
