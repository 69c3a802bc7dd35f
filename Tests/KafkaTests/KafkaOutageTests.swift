import Foundation
import GreenlightTestSupport
import Kafka
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(2)))
struct KafkaOutageTests {
    let logger = TestEnvironment.logger("kafka-outage-tests")

    /// A down broker's port stays reserved for it: nobody else can bind it meanwhile, not even a server that asks
    /// for `SO_REUSEADDR` as most do (the mock cluster aborts the process when it cannot listen there again), a
    /// client that connects meanwhile is turned away, and the broker serves again once it is up.
    @Test func aDownBrokersPortIsKeptForIt() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("port")
        try cluster.createTopic(topic, partitions: 1)
        let port = try #require(cluster.bootstrapServers.split(separator: ":").last.flatMap { UInt16($0) })
        func canBind() -> Bool {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var yes: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            } == 0
        }
        try await cluster.setBrokerDown(1)
        #expect(!canBind())
        let meanwhile = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers, properties: ["message.timeout.ms": "2000"]),
            logger: logger)
        await #expect(throws: KafkaError.self) {
            try await meanwhile.send(topic: topic, key: "k", value: Array("during".utf8), deadline: .seconds(20))
        }
        await meanwhile.shutdown(timeout: .seconds(2))
        try await cluster.setBrokerUp(1)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        try await producer.send(topic: topic, key: "k", value: Array("after".utf8), deadline: .seconds(20))
        await producer.shutdown(timeout: .seconds(2))
    }

    /// A program started while a broker is down (a service under test) does not inherit what holds its port: the
    /// broker can listen there again while that program still runs (else the mock cluster aborts this process).
    @Test func aProcessStartedDuringAnOutageDoesNotKeepTheBrokersPort() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("inherit")
        try cluster.createTopic(topic, partitions: 1)
        try await cluster.setBrokerDown(1)
        let child = try await ChildProcess(name: "sleep", executable: "/bin/sleep", arguments: ["60"], logPath: "/dev/null")
        defer { child.signal(SIGKILL) }
        try await cluster.setBrokerUp(1)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        try await producer.send(topic: topic, key: "k", value: Array("after".utf8), deadline: .seconds(20))
        #expect(kill(child.pid, 0) == 0, "the child still runs")
        await producer.shutdown(timeout: .seconds(2))
    }

    /// Tests start programs while other tests take brokers down and up. A broker going down closes its listening
    /// socket and binds its port again; a program starting in between holds a copy of that socket, the bind fails,
    /// and the mock cluster aborts this whole test process (the same happens to our own socket holding the port when
    /// the broker comes up). Here two tasks start programs in a loop while a broker goes down and up twenty
    /// times; without the two excluding each other, the process was aborted in the first or second round trip.
    @Test func aBrokerGoesDownAndUpWhileProgramsStart() async throws {
        let cluster = try KafkaMockCluster()
        let starters = ProgramStarters(count: 2)
        do {
            for _ in 0..<20 {
                try await cluster.setBrokerDown(1)
                try await cluster.setBrokerUp(1)
                // The starters get the lock in between: at least one more program before the next round trip.
                try await starters.waitForOneMore(timeout: .seconds(30))
            }
        } catch {
            _ = await starters.stop()
            throw error
        }
        let (started, failures) = await starters.stop()
        #expect(failures.isEmpty, "\(failures)")
        #expect(started >= 20)
        // And the broker serves after all that.
        let topic = TestEnvironment.uniqueName("spawn")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        try await producer.send(topic: topic, key: "k", value: Array("after".utf8), deadline: .seconds(20))
        await producer.shutdown(timeout: .seconds(2))
    }

    @Test func sendWhileBrokerIsDownFailsWithATypedErrorInBoundedTime() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("outage")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(
                bootstrapServers: cluster.bootstrapServers, properties: ["message.timeout.ms": "3000"]),
            logger: logger)
        try await producer.send(topic: topic, key: "k", value: Array("before".utf8))

        try await cluster.setBrokerDown(1)
        let started = ContinuousClock.now
        await #expect {
            try await producer.send(topic: topic, key: "k", value: Array("during".utf8))
        } throws: { error in
            (error as? KafkaError)?.code == .messageTimedOut
        }
        // librdkafka notices the timeout on its broker thread's next scan, which may wait out a reconnect
        // back-off: bounded, but a few seconds past message.timeout.ms.
        #expect(ContinuousClock.now - started < .seconds(30))
        try await cluster.setBrokerUp(1)
        await producer.shutdown(timeout: .seconds(2))
    }

    /// An idle producer (intake's, between requests) says it cannot reach the broker while it is down, and says
    /// it can again once it is back, without a send to wake it: `/readyz` rests on this, and an instance that
    /// stays unready gets no traffic that could wake it.
    @Test func anIdleProducersReachabilityFollowsTheBroker() async throws {
        let cluster = try KafkaMockCluster()
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        #expect(await producer.isConnected())
        try await cluster.setBrokerDown(1)
        #expect(try await eventually(timeout: .seconds(20), interval: .milliseconds(200)) { await !producer.isConnected() })
        // Long enough for the reconnect back-off to reach its maximum.
        try await Task.sleep(for: .seconds(12))
        try await cluster.setBrokerUp(1)
        #expect(try await eventually(timeout: .seconds(30), interval: .milliseconds(200)) { await producer.isConnected() })
        await producer.shutdown()
    }

    /// A send made while the broker is down ends either way within `message.timeout.ms` (delivered once the
    /// broker is back, or a typed error) and never hangs; once the broker is back, sends succeed again.
    @Test func sendDuringAnOutageEndsInBoundedTimeAndTheProducerRecovers() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("recover")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(
                bootstrapServers: cluster.bootstrapServers,
                properties: ["message.timeout.ms": "10000", "reconnect.backoff.max.ms": "1000"]),
            logger: logger)
        try await producer.send(topic: topic, key: "k", value: Array("before".utf8))

        try await cluster.setBrokerDown(1)
        let started = ContinuousClock.now
        let during = Task { try await producer.send(topic: topic, key: "k", value: Array("during".utf8)) }
        try await Task.sleep(for: .seconds(1))
        try await cluster.setBrokerUp(1)
        switch await during.result {
        case .success(let report):
            #expect(report.offset >= 1)
        case .failure(let error):
            let code = (error as? KafkaError)?.code
            #expect(code == .messageTimedOut || code == .deliveryFailed, "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(40))

        let recovered = try await eventually(timeout: .seconds(60), interval: .milliseconds(500)) {
            (try? await producer.send(topic: topic, key: "k", value: Array("after".utf8))) != nil
        }
        #expect(recovered)
        await producer.shutdown()
    }
}

/// Tasks that each start `/bin/true` and wait for it, over and over, until stopped.
private final class ProgramStarters: Sendable {
    private let started = Atomic<Int>(0)
    private let failures = Mutex<[String]>([])
    private let tasks = Mutex<[Task<Void, Never>]>([])

    init(count: Int) {
        let tasks = (0..<count).map { _ in
            Task { [self] in
                while !Task.isCancelled {
                    do {
                        let child = try await ChildProcess(name: "true", executable: "/bin/true", logPath: "/dev/null")
                        let status = await child.waitForExit()
                        if status != 0 { failures.withLock { $0.append("/bin/true ended with status \(status)") } }
                        started.add(1, ordering: .relaxed)
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                        return
                    }
                }
            }
        }
        self.tasks.withLock { $0 = tasks }
    }

    /// Returns once one more program than now has started.
    func waitForOneMore(timeout: Duration) async throws {
        let target = started.load(ordering: .relaxed) + 1
        let deadline = ContinuousClock.now + timeout
        while started.load(ordering: .relaxed) < target {
            if ContinuousClock.now > deadline || !failures.withLock({ $0.isEmpty }) {
                throw ChildProcessError(description: "no program started within \(timeout): \(failures.withLock { $0 })")
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Stops the tasks; returns how many programs they started and what went wrong.
    func stop() async -> (started: Int, failures: [String]) {
        let tasks = self.tasks.withLock { $0 }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        return (started.load(ordering: .relaxed), failures.withLock { $0 })
    }
}
