import Foundation
import GreenlightTestSupport
import Kafka
import Testing

/// What a caller of `send` sees when the broker is away or the producer can no longer send.
@Suite(.timeLimit(.minutes(2)))
struct KafkaProducerFaultTests {
    let logger = TestEnvironment.logger("kafka-producer-faults")

    func producer(_ cluster: KafkaMockCluster) throws -> KafkaProducer {
        try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
    }

    @Test func aDeadlineBoundsTheWaitForAnAcknowledgement() async throws {
        let (cluster, producer, topic) = try producerOfANewTopic("deadline")
        try await producer.send(topic: topic, key: "k", value: Array("before".utf8), deadline: .seconds(5))
        try await cluster.setBrokerDown(1)
        let started = ContinuousClock.now
        let error = await #expect(throws: KafkaError.self) {
            try await producer.send(topic: topic, key: "k", value: Array("during".utf8), deadline: .milliseconds(800))
        }
        #expect(error?.code == .unacknowledged)
        // Well under the 30 s the send would otherwise wait (message.timeout.ms); the margin is for a 2-core machine
        // that is starting dozens of test processes at the same time.
        #expect(ContinuousClock.now - started < .seconds(15))
        try await cluster.setBrokerUp(1)
        await producer.shutdown(timeout: .seconds(5))
    }

    /// A new mock cluster with a one-partition topic named after `name`, and a producer of it.
    func producerOfANewTopic(_ name: String) throws -> (KafkaMockCluster, KafkaProducer, String) {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName(name)
        try cluster.createTopic(topic, partitions: 1)
        return (cluster, try producer(cluster), topic)
    }

    /// The same, its only broker down.
    func producerWithTheBrokerDown(_ name: String) async throws -> (KafkaMockCluster, KafkaProducer, String) {
        let (cluster, producer, topic) = try producerOfANewTopic(name)
        try await cluster.setBrokerDown(1)
        return (cluster, producer, topic)
    }

    func threeMessages(to topic: String) -> [KafkaOutgoingMessage] {
        (0..<3).map { KafkaOutgoingMessage(topic: topic, key: "k", value: Array("m\($0)".utf8)) }
    }

    /// A cancelled batch's three results: each message failed as unacknowledged, none delivered.
    func expectEveryMessageUnacknowledged(
        _ results: [Result<KafkaDeliveryReport, KafkaError>], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(results.count == 3, sourceLocation: sourceLocation)
        for result in results {
            guard case .failure(let error) = result else {
                Issue.record("a message of a cancelled batch was delivered", sourceLocation: sourceLocation)
                continue
            }
            #expect(error.code == .unacknowledged, sourceLocation: sourceLocation)
        }
    }

    @Test func cancellingTheCallerStopsItsWait() async throws {
        let (cluster, producer, topic) = try await producerWithTheBrokerDown("cancel")
        let sending = Task { try await producer.send(topic: topic, key: "k", value: Array("x".utf8)) }
        try await Task.sleep(for: .milliseconds(200))
        let started = ContinuousClock.now
        sending.cancel()
        await #expect(throws: CancellationError.self) { try await sending.value }
        // At once rather than after the 30 s the send would wait; the margin is for a busy machine.
        #expect(ContinuousClock.now - started < .seconds(15))
        try await cluster.setBrokerUp(1)
        await producer.shutdown(timeout: .seconds(5))
    }

    /// A batch's wait too (the outbox relay's, whose producer retries for ever: without this it could not stop
    /// while the broker is away): each message not acknowledged fails as unacknowledged.
    @Test func cancellingABatchStopsItsWait() async throws {
        let (cluster, producer, topic) = try await producerWithTheBrokerDown("cancel-batch")
        let sending = Task { await producer.send(batch: threeMessages(to: topic)) }
        try await Task.sleep(for: .milliseconds(200))
        let started = ContinuousClock.now
        sending.cancel()
        let results = await sending.value
        // At once rather than after the 30 s each message would wait; the margin is for a busy machine.
        #expect(ContinuousClock.now - started < .seconds(15))
        expectEveryMessageUnacknowledged(results)
        try await cluster.setBrokerUp(1)
        await producer.shutdown(timeout: .seconds(5))
    }

    /// A caller cancelled before it sends hands the broker nothing: a relay stopped before its batch went out
    /// leaves it all to the next holder, not to a producer that would keep trying during its shutdown.
    @Test func aBatchFromACancelledCallerIsNotSent() async throws {
        let (cluster, producer, topic) = try producerOfANewTopic("cancelled-before")
        let sending = Task {
            // Wakes up cancelled (the sleep's error is the cancellation), then sends.
            try? await Task.sleep(for: .seconds(30))
            return await producer.send(batch: threeMessages(to: topic))
        }
        sending.cancel()
        expectEveryMessageUnacknowledged(await sending.value)
        try await producer.send(topic: topic, key: "k", value: Array("after".utf8), deadline: .seconds(10))
        let published = try await KafkaTopicReader.readAll(
            topic: topic, configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        #expect(published.map { String(decoding: $0.value, as: UTF8.self) } == ["after"])
        await producer.shutdown(timeout: .seconds(5))
    }

    /// An idempotent producer whose sequence the broker refuses cannot go on: it says so, fails every send with
    /// the fatal error, reports itself not connected, and wakes whoever waits for it (the service, which exits).
    @Test func aFatalErrorIsLatchedAndReported() async throws {
        let (cluster, producer, topic) = try producerOfANewTopic("fatal")
        try await producer.send(topic: topic, key: "k", value: Array("before".utf8))
        #expect(producer.fatalError == nil)
        let waiting = Task { await producer.waitForFatalError() }

        cluster.failNextRequests(.produce, with: [.outOfOrderSequenceNumber])
        await #expect(throws: KafkaError.self) {
            try await producer.send(topic: topic, key: "k", value: Array("refused".utf8), deadline: .seconds(10))
        }
        let fatal = await waiting.value
        #expect(fatal?.code == .fatal)
        #expect(producer.fatalError?.code == .fatal)
        let next = await #expect(throws: KafkaError.self) {
            try await producer.send(topic: topic, key: "k", value: Array("after".utf8))
        }
        #expect(next?.code == .fatal)
        #expect(await !producer.isConnected())
        await producer.shutdown(timeout: .seconds(2))
    }
}
