import CRdKafka
import Dispatch
import Foundation
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
    /// While a broker is down, a listening socket of ours on its port that resets every connection: to clients the
    /// broker is as unreachable as when nothing listens there, and no other socket can be given the port meanwhile
    /// (a listening socket conflicts with every bind, `SO_REUSEADDR` or not), so the broker can listen there again
    /// when it comes back up. The mock cluster itself keeps only a bound `SO_REUSEADDR` socket there, which any
    /// server that also asks for `SO_REUSEADDR` can be given and listen on; the mock cluster then aborts the process
    /// when it cannot listen again.
    private let heldPorts = Mutex<[Int32: PortHolder]>([:])
    /// Taken while a broker's port passes from one socket of this process to another (taking it down, bringing it
    /// up) and while a child process starts; see `startingChildProcess`.
    private static let portHandOver = NSLock()

    /// Runs `start`, which starts a child process (posix_spawn), while no broker of a mock cluster in this process
    /// is handing its port from one socket to another. A child holds a copy of every descriptor of this process from
    /// the moment it is created until it closes them or execs, and a socket closed meanwhile stays open in it. A
    /// broker going down closes its listening socket and binds the port again: the copy still listens there ("Failed
    /// to bind mock broker socket ... Address already in use"). A broker coming up listens where our holding socket
    /// just closed: the same ("Failed to listen on mock broker socket"). Either way the mock cluster aborts this
    /// process.
    /// `start` runs on a queue of its own (posix_spawn blocks until the child has exec'd, and the lock may be held
    /// by a broker going down, which waits for the mock cluster's thread), never on Swift's cooperative pool.
    public static func startingChildProcess<T: Sendable>(_ start: @escaping @Sendable () throws -> T) async throws -> T {
        try await childStartQueue.run { try portHandOver.withLock(start) }
    }
    private static let childStartQueue = DispatchQueue(label: "greenlight.kafka.mock.child-start")
    /// Where the commands that wait for the mock cluster's thread run: taking a broker down or up (which also waits
    /// for `portHandOver`, and once in a while for a second), never on Swift's cooperative pool.
    private let commandQueue = DispatchQueue(label: "greenlight.kafka.mock.commands")

    public init(brokers: Int = 1, logger: Logger = Logger(label: "greenlight.kafka.mock")) throws {
        // The brokers' accepted connections take their socket options from this handle: TCP_NODELAY, as a real
        // Kafka broker sets. With Nagle's algorithm on, a response written while the one before it was not yet
        // acknowledged waited for the client's delayed acknowledgement, about 40 ms: a producer's batch to several
        // partitions, each its own request, took 45 ms instead of 3.
        let conf = try RDKafkaConf.make(["log_level": "3", "socket.nagle.disable": "true"])
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
        heldPorts.withLock { held in for holder in held.values { holder.release() } }
    }

    /// The port broker `brokerId` listens on (brokers are numbered from 1, in the order of `bootstrapServers`).
    private func port(ofBroker brokerId: Int32) -> UInt16? {
        let servers = bootstrapServers.split(separator: ",")
        guard brokerId >= 1, Int(brokerId) <= servers.count, let text = servers[Int(brokerId) - 1].split(separator: ":").last
        else { return nil }
        return UInt16(text)
    }

    /// Best effort: holds the broker's port until it is up again.
    private func holdPort(ofBroker brokerId: Int32) {
        guard let port = port(ofBroker: brokerId), let holder = PortHolder(port: port) else {
            return
        }
        heldPorts.withLock { $0[brokerId] = holder }
    }

    /// The `bootstrap.servers` value that reaches this cluster, e.g. `127.0.0.1:39217`.
    public var bootstrapServers: String { String(cString: rd_kafka_mock_cluster_bootstraps(cluster)) }

    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws {
        let error = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor))
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.mockCluster, "cannot create topic \(name)", error: error)
        }
    }

    /// Makes broker `brokerId` the leader of `partition` of `topic` (created first): with several brokers, one topic's
    /// partitions can then be unreachable while another's are not.
    /// It waits for the mock cluster's thread, so it runs on `commandQueue`, never on Swift's cooperative pool.
    public func setLeader(of topic: String, partition: Int, to brokerId: Int32) async throws {
        try await commandQueue.run { [self] in try assignLeader(of: topic, partition: partition, to: brokerId) }
    }

    private func assignLeader(of topic: String, partition: Int, to brokerId: Int32) throws {
        let error = rd_kafka_mock_partition_set_leader(cluster, topic, Int32(partition), brokerId)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.mockCluster, "cannot make broker \(brokerId) the leader of \(topic) [\(partition)]", error: error)
        }
    }

    /// Takes a broker down (its connections are closed and it refuses new ones) to simulate an outage.
    public func setBrokerDown(_ brokerId: Int32) async throws {
        try await commandQueue.run { [self] in try takeDown(brokerId) }
    }

    private func takeDown(_ brokerId: Int32) throws {
        // The broker closes its listening socket and binds the port again at once, keeping it for when it is up.
        let error = Self.portHandOver.withLock { rd_kafka_mock_broker_set_down(cluster, brokerId) }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.mockCluster, "cannot take broker \(brokerId) down", error: error)
        }
        holdPort(ofBroker: brokerId)
    }

    /// Kafka API keys whose requests can be made to fail.
    public enum API: Int16, Sendable {
        case produce = 0
        case fetch = 1
        case offsetCommit = 8
        case initProducerId = 22
    }

    /// Errors a broker can be made to answer with (Kafka protocol error codes).
    public enum BrokerError: Int32, Sendable {
        /// An idempotent producer's sequence is broken: fatal for the producer.
        case outOfOrderSequenceNumber = 45
        case notLeaderForPartition = 6
        case requestTimedOut = 7
        /// The client may not use the consumer group (not retried).
        case groupAuthorizationFailed = 30
    }

    /// The next requests of `api`, from any client, are answered with `errors`, one each, in order.
    public func failNextRequests(_ api: API, with errors: [BrokerError]) {
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0.rawValue) }
        codes.withUnsafeBufferPointer { buffer in
            rd_kafka_mock_push_request_errors_array(cluster, api.rawValue, buffer.count, buffer.baseAddress)
        }
    }

    public func setBrokerUp(_ brokerId: Int32) async throws {
        try await commandQueue.run { [self] in try bringUp(brokerId) }
    }

    private func bringUp(_ brokerId: Int32) throws {
        let holder = heldPorts.withLock { $0.removeValue(forKey: brokerId) }
        // Its thread stops first, outside the lock (that takes up to its 50 ms poll); then our holding socket closes
        // and the broker listens on the port in its place.
        holder?.stopAnswering()
        let error = Self.portHandOver.withLock {
            holder?.closeSocket()
            return rd_kafka_mock_broker_set_up(cluster, brokerId)
        }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.mockCluster, "cannot bring broker \(brokerId) up", error: error)
        }
    }
}

/// A socket listening on a down broker's port that answers every connection with a reset, on a thread of its own.
private final class PortHolder: @unchecked Sendable {
    private let fd: Int32
    private let stopping = Atomic<Bool>(false)
    private let stopped = DispatchSemaphore(value: 0)

    init?(port: UInt16) {
        // Close-on-exec: a process the tests start meanwhile must not inherit the port and keep it after we let go.
        // Non-blocking: a connection gone between poll and accept must not hold the thread (and `release`).
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return nil }
        var yes: Int32 = 1
        // Shares the port with the broker's own bound socket and its just-closed connections (in TIME_WAIT).
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            return nil
        }
        self.fd = fd
        let thread = Thread { [self] in resetConnections() }
        thread.name = "greenlight.kafka.mock.down-broker"
        thread.start()
    }

    private func resetConnections() {
        defer { stopped.signal() }
        var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while !stopping.load(ordering: .acquiring) {
            guard poll(&ready, 1, 50) > 0 else { continue }
            let connection = accept(fd, nil, nil)
            guard connection >= 0 else { continue }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            // Linger 0: close sends a reset and leaves nothing in TIME_WAIT on the port.
            var reset = linger(l_onoff: 1, l_linger: 0)
            setsockopt(connection, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
            close(connection)
        }
    }

    /// Stops answering connections (they wait in the backlog until `closeSocket`); returns once the thread has stopped.
    func stopAnswering() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        stopped.wait()
    }

    /// Frees the port, after `stopAnswering`.
    func closeSocket() {
        close(fd)
    }

    func release() {
        stopAnswering()
        closeSocket()
    }
}
