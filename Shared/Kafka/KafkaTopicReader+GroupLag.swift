import CRdKafka
import Dispatch
import Logging

extension KafkaTopicReader {
    /// How far a consumer group is behind on `topics`, every partition of them, read from outside the group: its
    /// committed offsets are asked of the group's coordinator without joining it, so no member is disturbed and no
    /// rebalance happens (what the operator console shows; each member exports its own partitions' lag as
    /// `greenlight_kafka_consumer_lag`, measured the same way).
    public static func lag(
        ofGroup group: String, topics: [String], configuration: KafkaConfiguration, logger: Logger,
        timeout: Duration = .seconds(5)
    ) async throws -> [PartitionLag] {
        let queue = DispatchQueue(label: "greenlight.kafka.group-lag")
        return try await queue.run {
            let client = try readerClient(configuration: configuration, logger: logger, group: group)
            defer { rd_kafka_consumer_close(client.handle) }
            var partitions: [(String, Int32)] = []
            for topic in topics {
                partitions += try partitionIds(of: topic, client: client, timeout: timeout).map { (topic, $0) }
            }
            let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for (topic, partition) in partitions { rd_kafka_topic_partition_list_add(list, topic, partition) }
            return try PartitionLag.measure(list, handle: client.handle, timeoutMilliseconds: timeout.milliseconds)
        }
    }
}
