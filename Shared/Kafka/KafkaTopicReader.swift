import CRdKafka
import Dispatch
import Foundation
import Logging

/// Reads a whole topic, from the start of each partition to the end it has when the read begins, outside any
/// consumer group (a read commits nothing, so no group's position moves). For operator tools such as listing the
/// dead-letter topic; services consume through `KafkaConsumer`. Its extensions look at a group from outside: its
/// lag, and `startGroupAtEnd`, the one that commits (for a group with no members yet).
public enum KafkaTopicReader {
    public static func readAll(
        topic: String, configuration: KafkaConfiguration, logger: Logger, timeout: Duration = .seconds(30)
    ) async throws -> [KafkaMessage] {
        let queue = DispatchQueue(label: "greenlight.kafka.topic-reader")
        return try await queue.run { try read(topic: topic, configuration: configuration, logger: logger, timeout: timeout) }
    }

    /// The message at `offset` in `topic`'s `partition`, read without joining or moving any group (what
    /// `greenlight dlq replay` uses for a dead letter that kept only part of its payload); nil when the partition
    /// no longer holds that offset (retention deleted it) or never did.
    public static func message(
        topic: String, partition: Int32, offset: Int64, configuration: KafkaConfiguration, logger: Logger,
        timeout: Duration = .seconds(30)
    ) async throws -> KafkaMessage? {
        let queue = DispatchQueue(label: "greenlight.kafka.topic-reader")
        return try await queue.run {
            try readOne(topic: topic, partition: partition, offset: offset, configuration: configuration, logger: logger, timeout: timeout)
        }
    }

    /// Blocks; runs on the queue above.
    private static func readOne(
        topic: String, partition: Int32, offset: Int64, configuration: KafkaConfiguration, logger: Logger, timeout: Duration
    ) throws -> KafkaMessage? {
        let deadline = ContinuousClock.now + timeout
        let client = try readerClient(configuration: configuration, logger: logger)
        defer { rd_kafka_consumer_close(client.handle) }
        let (low, high) = try watermarks(of: topic, partition: partition, handle: client.handle, timeout: timeout.milliseconds)
        guard offset >= low, offset < high else { return nil }
        let list = rd_kafka_topic_partition_list_new(1)!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = offset
        let assignError = rd_kafka_assign(client.handle, list)
        guard assignError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.consumerFailed, "cannot assign \(topic)[\(partition)]", error: assignError)
        }
        while ContinuousClock.now < deadline {
            guard let message = rd_kafka_consumer_poll(client.handle, 100) else { continue }
            defer { rd_kafka_message_destroy(message) }
            switch message.pointee.err {
            case RD_KAFKA_RESP_ERR_NO_ERROR:
                if message.pointee.offset == offset { return KafkaMessage(copying: message) }
                if message.pointee.offset > offset { return nil }
            case RD_KAFKA_RESP_ERR__PARTITION_EOF:
                return nil
            case let error:
                logger.warning(
                    "Kafka error while reading \(topic)", metadata: ["error": "\(String(cString: rd_kafka_err2str(error)))"])
            }
        }
        throw KafkaError(.consumerFailed, "reading \(topic)[\(partition)] at offset \(offset) did not finish within \(timeout)")
    }

    /// A consumer handle for reading by assignment: it needs a group id (a throwaway one unless `group` names the
    /// group whose committed offsets it reads), but it never joins the group and never commits to it.
    static func readerClient(configuration: KafkaConfiguration, logger: Logger, group: String? = nil) throws -> RDKafkaClient {
        let conf = try RDKafkaConf.make(
            configuration.merged(with: [
                "group.id": group ?? "greenlight-topic-reader-\(UUID().uuidString)",
                "enable.auto.commit": "false",
                "enable.auto.offset.store": "false",
                "enable.partition.eof": "true",
                "allow.auto.create.topics": "false",
                "fetch.wait.max.ms": "50",
            ]))
        let client = try RDKafkaClient(type: RD_KAFKA_CONSUMER, conf: conf, logger: logger)
        rd_kafka_poll_set_consumer(client.handle)
        return client
    }

    /// Blocks; runs on the queue above.
    private static func read(
        topic: String, configuration: KafkaConfiguration, logger: Logger, timeout: Duration
    ) throws -> [KafkaMessage] {
        let deadline = ContinuousClock.now + timeout
        let client = try readerClient(configuration: configuration, logger: logger)
        defer { rd_kafka_consumer_close(client.handle) }

        let partitions = try partitionIds(of: topic, client: client, timeout: timeout)
        var remaining: [Int32: Int64] = [:]
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in partitions {
            let (low, high) = try watermarks(of: topic, partition: partition, handle: client.handle, timeout: timeout.milliseconds)
            guard high > low else { continue }
            remaining[partition] = high
            rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = low
        }
        guard !remaining.isEmpty else { return [] }
        let assignError = rd_kafka_assign(client.handle, list)
        guard assignError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.consumerFailed, "cannot assign the partitions of \(topic)", error: assignError)
        }

        var messages: [KafkaMessage] = []
        while !remaining.isEmpty {
            guard ContinuousClock.now < deadline else {
                throw KafkaError(
                    .consumerFailed,
                    "reading \(topic) did not reach the end of partitions \(remaining.keys.sorted()) within \(timeout)")
            }
            guard let message = rd_kafka_consumer_poll(client.handle, 100) else { continue }
            defer { rd_kafka_message_destroy(message) }
            let partition = message.pointee.partition
            switch message.pointee.err {
            case RD_KAFKA_RESP_ERR_NO_ERROR:
                messages.append(KafkaMessage(copying: message))
                if let end = remaining[partition], message.pointee.offset + 1 >= end { remaining[partition] = nil }
            case RD_KAFKA_RESP_ERR__PARTITION_EOF:
                remaining[partition] = nil
            case let error:
                logger.warning(
                    "Kafka error while reading \(topic)", metadata: ["error": "\(String(cString: rd_kafka_err2str(error)))"])
            }
        }
        return messages
    }

    /// The first offset `topic`'s `partition` still holds and the offset its next message will get, asked of the
    /// partition's leader. Blocks up to `timeout` milliseconds.
    static func watermarks(of topic: String, partition: Int32, handle: OpaquePointer, timeout: Int32) throws -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        let error = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeout)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.consumerFailed, "cannot read the watermarks of \(topic)[\(partition)]", error: error)
        }
        return (low, high)
    }

    static func partitionIds(of topic: String, client: RDKafkaClient, timeout: Duration) throws -> [Int32] {
        let topicHandle = rd_kafka_topic_new(client.handle, topic, nil)
        defer { if let topicHandle { rd_kafka_topic_destroy(topicHandle) } }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let error = rd_kafka_metadata(client.handle, 0, topicHandle, &metadata, timeout.milliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw KafkaError(.consumerFailed, "cannot read the metadata of \(topic)", error: error)
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let entry = metadata.pointee.topics[index]
            guard String(cString: entry.topic) == topic else { continue }
            guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(.consumerFailed, "topic \(topic) is not readable", error: entry.err)
            }
            return (0..<Int(entry.partition_cnt)).map { entry.partitions[$0].id }
        }
        throw KafkaError(.consumerFailed, "the broker does not know topic \(topic)")
    }
}
