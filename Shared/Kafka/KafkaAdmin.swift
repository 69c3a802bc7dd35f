import CRdKafka
import Foundation
import Logging

/// Creates the topics a service needs at start-up; topics that already exist are left as they are.
public final class KafkaAdmin: Sendable {
    private let client: RDKafkaClient
    private let blockingQueue = DispatchQueue(label: "greenlight.kafka.admin.blocking")

    public init(configuration: KafkaConfiguration, logger: Logger) throws {
        let conf = try RDKafkaConf.make(configuration.merged(with: [:]))
        client = try RDKafkaClient(type: RD_KAFKA_PRODUCER, conf: conf, logger: logger)
    }

    /// The names of the topics the cluster has.
    public func topicNames(timeout: Duration = .seconds(10)) async throws -> Set<String> {
        let client = self.client
        let milliseconds = timeout.milliseconds
        return try await blockingQueue.run {
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let error = rd_kafka_metadata(client.handle, 1, nil, &metadata, milliseconds)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
                throw KafkaError(.adminFailed, "cannot list topics", error: error)
            }
            defer { rd_kafka_metadata_destroy(metadata) }
            return Set((0..<Int(metadata.pointee.topic_cnt)).map { String(cString: metadata.pointee.topics[$0].topic) })
        }
    }

    /// Creates each missing topic with `partitions` partitions and `replicationFactor` replicas; returns the
    /// names it created. Asks the cluster first, so nothing is sent when every topic exists.
    @discardableResult
    public func createTopics(
        _ names: [String], partitions: Int, replicationFactor: Int, timeout: Duration = .seconds(15)
    ) async throws -> [String] {
        let existing = try await topicNames(timeout: timeout)
        let missing = names.filter { !existing.contains($0) }
        guard !missing.isEmpty else { return [] }
        let client = self.client
        let milliseconds = timeout.milliseconds
        try await blockingQueue.run {
            let handle = client.handle
            var errorText = [CChar](repeating: 0, count: 512)
            var newTopics: [OpaquePointer?] = []
            defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
            for name in missing {
                let topic = errorText.withUnsafeMutableBufferPointer {
                    rd_kafka_NewTopic_new(name, Int32(partitions), Int32(replicationFactor), $0.baseAddress, $0.count)
                }
                guard let topic else {
                    throw KafkaError(.adminFailed, "topic \(name): \(String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
                }
                newTopics.append(topic)
            }
            let queue = rd_kafka_queue_new(handle)
            defer { rd_kafka_queue_destroy(queue) }
            let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
            defer { rd_kafka_AdminOptions_destroy(options) }
            _ = rd_kafka_AdminOptions_set_request_timeout(options, milliseconds, nil, 0)
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, milliseconds, nil, 0)
            newTopics.withUnsafeMutableBufferPointer {
                rd_kafka_CreateTopics(handle, $0.baseAddress, $0.count, options, queue)
            }
            guard let event = rd_kafka_queue_poll(queue, milliseconds + 2000) else {
                throw KafkaError(.adminFailed, "no answer to CreateTopics within \(timeout)")
            }
            defer { rd_kafka_event_destroy(event) }
            let eventError = rd_kafka_event_error(event)
            guard eventError == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(.adminFailed, "CreateTopics failed", error: eventError)
            }
            guard let result = rd_kafka_event_CreateTopics_result(event) else {
                throw KafkaError(.adminFailed, "CreateTopics returned no result")
            }
            var count = 0
            let results = rd_kafka_CreateTopics_result_topics(result, &count)
            for index in 0..<count {
                guard let topicResult = results?[index] else { continue }
                let error = rd_kafka_topic_result_error(topicResult)
                if error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
                    let name = String(cString: rd_kafka_topic_result_name(topicResult))
                    throw KafkaError(.adminFailed, "cannot create topic \(name)", error: error)
                }
            }
        }
        return missing
    }
}
