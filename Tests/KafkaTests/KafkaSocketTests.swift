import Foundation
import Glibc
import GreenlightTestSupport
import Kafka
import Testing

/// Both ends of every connection to the embedded broker send at once (TCP_NODELAY): a producer's batch to several
/// partitions is several requests, and with Nagle's algorithm on, each one written before the last was acknowledged
/// waited for the other end's delayed acknowledgement (a relay's batch took about 45 ms instead of about 3).
@Suite(.timeLimit(.minutes(1)))
struct KafkaSocketTests {
    let logger = TestEnvironment.logger("kafka-socket-tests")

    /// A TCP socket of this process: its local and peer ports (no peer: a listening socket) and whether it has
    /// TCP_NODELAY set.
    struct Socket {
        var local: UInt16
        var peer: UInt16?
        var noDelay: Bool
    }

    static func tcpSockets() throws -> [Socket] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap { Int32($0) }.compactMap { fd in
            var type: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0, type == Int32(SOCK_STREAM.rawValue) else {
                return nil
            }
            func port(_ read: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) -> UInt16? {
                var address = sockaddr_in()
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                let result = withUnsafeMutablePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { read(fd, $0, &length) }
                }
                guard result == 0, address.sin_family == sa_family_t(AF_INET) else { return nil }
                return UInt16(bigEndian: address.sin_port)
            }
            guard let local = port(getsockname) else { return nil }
            var noDelay: Int32 = 0
            size = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, &size) == 0 else { return nil }
            return Socket(local: local, peer: port(getpeername), noDelay: noDelay != 0)
        }
    }

    @Test func bothEndsOfEveryBrokerConnectionSendWithoutDelay() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("no-delay")
        try cluster.createTopic(topic, partitions: 3)
        let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let results = await producer.send(
            batch: (0..<6).map { KafkaOutgoingMessage(topic: topic, key: "key-\($0)", value: Array("m\($0)".utf8)) })
        #expect(results.allSatisfy { (try? $0.get()) != nil })

        let brokerPort = try #require(cluster.bootstrapServers.split(separator: ":").last.flatMap { UInt16($0) })
        let sockets = try Self.tcpSockets()
        let accepted = sockets.filter { $0.local == brokerPort && $0.peer != nil }
        let clients = sockets.filter { $0.peer == brokerPort }
        #expect(!accepted.isEmpty, "no connection accepted by the broker on port \(brokerPort)")
        #expect(!clients.isEmpty, "no client connection to port \(brokerPort)")
        #expect(accepted.allSatisfy { $0.noDelay }, "the broker's end of a connection has Nagle's algorithm on")
        #expect(clients.allSatisfy { $0.noDelay }, "a client's end of a connection has Nagle's algorithm on")
        await producer.shutdown()
    }
}
