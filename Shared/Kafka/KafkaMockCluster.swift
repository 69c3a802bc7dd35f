import CRdKafka
import Logging

/// An embedded Kafka broker for development and tests: librdkafka's mock cluster, which speaks the real Kafka
/// protocol over TCP on 127.0.0.1 (producers, idempotence, consumer groups, offset commits).
/// `@unchecked Sendable`: the mock cluster's functions post commands to its own thread and are safe to call from
/// any thread; `cluster` is set once and destroyed once, in `deinit`.
public final class KafkaMockCluster: @unchecked Sendable {
    private let client: RDKafkaClient
    private let cluster: OpaquePointer
    public let brokerCount: Int

    public init(brokers: Int = 1, logger: Logger = Logger(label: "greenlight.kafka.mock")) throws {
        let conf = try RDKafkaConf.make(["log_level": "3"])
        client = try RDKafkaClient(type: RD_KAFKA_PRODUCER, conf: conf, logger: logger)
        guard let cluster = rd_kafka_mock_cluster_new(client.handle, Int32(brokers)) else {
            throw KafkaError(.mockCluster, "cannot start the mock cluster (see the log)")
        }
        self.cluster = cluster
        brokerCount = brokers
    }

    deinit {
        // Must go before the rd_kafka_t that hosts it.
        rd_kafka_mock_cluster_destroy(cluster)
    }

    /// The `bootstrap.servers` value that reaches this cluster, e.g. `127.0.0.1:39217`.
    public var bootstrapServers: String { String(cString: rd_kafka_mock_cluster_bootstraps(cluster)) }

    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws {
        let error = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor))
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.mockCluster, "cannot create topic \(name)", error: error)
        }
    }

    /// Takes a broker down (its connections are closed and it refuses new ones) to simulate an outage.
    public func setBrokerDown(_ brokerId: Int32) throws {
        let error = rd_kafka_mock_broker_set_down(cluster, brokerId)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.mockCluster, "cannot take broker \(brokerId) down", error: error)
        }
    }

    /// Kafka API keys whose requests can be made to fail.
    public enum API: Int16, Sendable {
        case produce = 0
        case fetch = 1
        case initProducerId = 22
    }

    /// Errors a broker can be made to answer with (Kafka protocol error codes).
    public enum BrokerError: Int32, Sendable {
        /// An idempotent producer's sequence is broken: fatal for the producer.
        case outOfOrderSequenceNumber = 45
        case notLeaderForPartition = 6
        case requestTimedOut = 7
    }

    /// The next requests of `api`, from any client, are answered with `errors`, one each, in order.
    public func failNextRequests(_ api: API, with errors: [BrokerError]) {
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0.rawValue) }
        codes.withUnsafeBufferPointer { buffer in
            rd_kafka_mock_push_request_errors_array(cluster, api.rawValue, buffer.count, buffer.baseAddress)
        }
    }

    public func setBrokerUp(_ brokerId: Int32) throws {
        let error = rd_kafka_mock_broker_set_up(cluster, brokerId)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.mockCluster, "cannot bring broker \(brokerId) up", error: error)
        }
    }
}
