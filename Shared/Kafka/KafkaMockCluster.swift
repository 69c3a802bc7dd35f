import CRdKafka
import Glibc
import Logging
import Synchronization

/// An embedded Kafka broker for development and tests: librdkafka's mock cluster, which speaks the real Kafka
/// protocol over TCP on 127.0.0.1 (producers, idempotence, consumer groups, offset commits).
/// `@unchecked Sendable`: the mock cluster's functions post commands to its own thread and are safe to call from
/// any thread; `cluster` is set once and destroyed once, in `deinit`.
public final class KafkaMockCluster: @unchecked Sendable {
    private let client: RDKafkaClient
    private let cluster: OpaquePointer
    public let brokerCount: Int
    /// While a broker is down, a socket of ours bound to its port (not listening, so connections are still refused):
    /// another program asking the kernel for a free port cannot be given it, and the broker can listen there again
    /// when it comes back up. Without it, a busy machine can hand the port out in between and the mock cluster
    /// aborts the process when it cannot listen again.
    private let heldPorts = Mutex<[Int32: Int32]>([:])

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
        heldPorts.withLock { held in for fd in held.values { close(fd) } }
    }

    /// The port broker `brokerId` listens on (brokers are numbered from 1, in the order of `bootstrapServers`).
    private func port(ofBroker brokerId: Int32) -> UInt16? {
        let servers = bootstrapServers.split(separator: ",")
        guard brokerId >= 1, Int(brokerId) <= servers.count, let text = servers[Int(brokerId) - 1].split(separator: ":").last
        else { return nil }
        return UInt16(text)
    }

    /// Best effort: binds a socket to the broker's port until it is up again.
    private func holdPort(ofBroker brokerId: Int32) {
        guard let port = port(ofBroker: brokerId) else { return }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        var yes: Int32 = 1
        // Over the TIME_WAIT connections the broker just closed; still a conflict for anyone asking for a free port.
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            close(fd)
            return
        }
        heldPorts.withLock { $0[brokerId] = fd }
    }

    private func releasePort(ofBroker brokerId: Int32) {
        if let fd = heldPorts.withLock({ $0.removeValue(forKey: brokerId) }) { close(fd) }
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
        holdPort(ofBroker: brokerId)
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
        releasePort(ofBroker: brokerId)
        let error = rd_kafka_mock_broker_set_up(cluster, brokerId)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.mockCluster, "cannot bring broker \(brokerId) up", error: error)
        }
    }
}
