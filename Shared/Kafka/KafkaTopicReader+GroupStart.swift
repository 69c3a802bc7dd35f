import CRdKafka
import Dispatch
import Logging

extension KafkaTopicReader {
    /// Commits, for a consumer group that has no members yet, the end each partition of `topics` has now: a member
    /// that joins afterwards reads only what is written from here on. `auto.offset.reset=latest` would not do: it is
    /// looked up when fetching begins, which can be after the first new messages were written, and those would be
    /// skipped. Reading from the start instead means reading, and discarding, everything the topic already holds
    /// (what the load generator did, and what held its first outcomes back behind a previous run's).
    public static func startGroupAtEnd(
        _ group: String, topics: [String], configuration: KafkaConfiguration, logger: Logger,
        timeout: Duration = .seconds(10)
    ) async throws {
        let queue = DispatchQueue(label: "greenlight.kafka.group-start")
        try await queue.run {
            let client = try readerClient(configuration: configuration, logger: logger, group: group)
            defer { rd_kafka_consumer_close(client.handle) }
            let list = rd_kafka_topic_partition_list_new(0)!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for topic in topics {
                for partition in try partitionIds(of: topic, client: client, timeout: timeout) {
                    let end = try watermarks(of: topic, partition: partition, handle: client.handle, timeout: timeout.milliseconds).high
                    rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = end
                }
            }
            guard list.pointee.cnt > 0 else { return }
            let error = rd_kafka_commit(client.handle, list, 0)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(
                    .consumerFailed, "cannot commit the end of \(topics.joined(separator: ", ")) for group \(group)",
                    error: error)
            }
            for index in 0..<Int(list.pointee.cnt) where list.pointee.elems[index].err != RD_KAFKA_RESP_ERR_NO_ERROR {
                let element = list.pointee.elems[index]
                throw KafkaError(
                    .consumerFailed,
                    "cannot commit the end of \(String(cString: element.topic))[\(element.partition)] for group \(group)",
                    error: element.err)
            }
        }
    }
}
