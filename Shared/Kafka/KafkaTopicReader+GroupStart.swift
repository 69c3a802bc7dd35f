import CRdKafka
import Dispatch
import Logging

extension KafkaTopicReader {
    /// Commits, for a consumer group that has no members yet, the end each partition of `topics` has now: a member
    /// that joins afterwards reads only what is written from here on. `auto.offset.reset=latest` would not do: it is
    /// looked up when fetching begins, which can be after the first new messages were written, and those would be
    /// skipped. Reading from the start instead means reading, and discarding, everything the topic already holds
    /// (what the load generator did, and what held its first outcomes back behind a previous run's). The topics must
    /// exist. Throws unless every partition's offset was committed within `timeout`.
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
            let what = "the end of \(topics.joined(separator: ", ")) for group \(group)"
            // Committed through a queue of our own, so that the wait is bounded and each partition's result is read
            // (a blocking rd_kafka_commit waits as long as the coordinator is unknown, and reports no partial failure).
            let results = rd_kafka_queue_new(client.handle)!
            defer { rd_kafka_queue_destroy(results) }
            let error = rd_kafka_commit_queue(client.handle, list, results, ignoreCommitResult, nil)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(.consumerFailed, "cannot commit \(what)", error: error)
            }
            let deadline = ContinuousClock.now + timeout
            while true {
                let left = deadline - ContinuousClock.now
                guard left > .zero else { throw KafkaError(.consumerFailed, "committing \(what) did not finish within \(timeout)") }
                guard let event = rd_kafka_queue_poll(results, left.milliseconds) else { continue }
                defer { rd_kafka_event_destroy(event) }
                guard rd_kafka_event_type(event) == RD_KAFKA_EVENT_OFFSET_COMMIT else { continue }
                let overall = rd_kafka_event_error(event)
                guard overall == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw KafkaError(.consumerFailed, "cannot commit \(what)", error: overall)
                }
                if let committed = rd_kafka_event_topic_partition_list(event) {
                    for index in 0..<Int(committed.pointee.cnt) where committed.pointee.elems[index].err != RD_KAFKA_RESP_ERR_NO_ERROR {
                        let element = committed.pointee.elems[index]
                        throw KafkaError(
                            .consumerFailed,
                            "cannot commit the end of \(String(cString: element.topic))[\(element.partition)] for group \(group)",
                            error: element.err)
                    }
                }
                return
            }
        }
    }
}

/// `rd_kafka_commit_queue` asks for a callback; the result is read from the queue as an event instead.
private let ignoreCommitResult:
    @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?)
        -> Void = { _, _, _, _ in }
