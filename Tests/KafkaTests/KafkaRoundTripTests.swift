import Foundation
import GreenlightTestSupport
import Kafka
import Testing

@Suite(.timeLimit(.minutes(2)))
struct KafkaRoundTripTests {
    let logger = TestEnvironment.logger("kafka-tests")

    @Test func producedMessageIsConsumedWithKeyAndHeaders() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("round-trip")
        try cluster.createTopic(topic, partitions: 3)
        let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)

        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        let report = try await producer.send(
            topic: topic, key: "REQ-1", value: Array("hello".utf8),
            headers: [KafkaHeader(name: "traceparent", string: "00-abc-def-01")])
        #expect(report.topic == topic)
        #expect(report.offset >= 0)

        let consumer = try KafkaConsumer(
            configuration: configuration, groupId: TestEnvironment.uniqueName("group"), topics: [topic], logger: logger)
        var iterator = consumer.messages.makeAsyncIterator()
        let message = try #require(try await iterator.next())
        #expect(message.value == Array("hello".utf8))
        #expect(message.keyString == "REQ-1")
        #expect(message.partition == report.partition)
        #expect(message.offset == report.offset)
        #expect(message.header("traceparent") == Array("00-abc-def-01".utf8))
        // When the producer made it (CreateTime), by the wall clock.
        let written = try #require(message.timestampMilliseconds)
        #expect(written >= before && written <= Int64(Date().timeIntervalSince1970 * 1000), "\(written) from \(before)")
        try await consumer.commit(message)
        await consumer.close()
        await producer.shutdown()
    }

    @Test func sameKeyLandsOnSamePartition() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("keys")
        try cluster.createTopic(topic, partitions: 6)
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        var partitionsByKey: [String: Set<Int32>] = [:]
        for round in 0..<5 {
            for key in ["REQ-A", "REQ-B", "REQ-C", "REQ-D"] {
                let report = try await producer.send(topic: topic, key: key, value: Array("\(round)".utf8))
                partitionsByKey[key, default: []].insert(report.partition)
            }
        }
        for (key, partitions) in partitionsByKey {
            #expect(partitions.count == 1, "key \(key) went to partitions \(partitions)")
        }
        await producer.shutdown()
    }

    @Test func batchKeepsOrderAndReportsEachMessage() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("batch")
        try cluster.createTopic(topic, partitions: 3)
        let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let messages = (0..<50).map { KafkaOutgoingMessage(topic: topic, key: "same", value: Array("\($0)".utf8)) }
        let results = await producer.send(batch: messages)
        let reports = try results.map { try $0.get() }
        #expect(reports.count == 50)
        #expect(Set(reports.map(\.partition)).count == 1)
        #expect(reports.map(\.offset) == reports.map(\.offset).sorted())

        let consumer = try KafkaConsumer(
            configuration: configuration, groupId: TestEnvironment.uniqueName("group"), topics: [topic], logger: logger)
        var received: [String] = []
        for try await message in consumer.messages {
            received.append(String(decoding: message.value, as: UTF8.self))
            if received.count == 50 { break }
        }
        #expect(received == (0..<50).map { "\($0)" })
        await consumer.close()
        await producer.shutdown()
    }

    @Test func sendAfterShutdownIsATypedError() async throws {
        let cluster = try KafkaMockCluster()
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        await producer.shutdown()
        await #expect {
            try await producer.send(topic: "t", key: nil, value: [1])
        } throws: { ($0 as? KafkaError)?.code == .closed }
    }

    /// A send waits for its acknowledgement, so a message is not held back for a batch to fill (bench/README.md,
    /// "No linger"); an operator's setting still wins.
    @Test func aMessageIsSentAtOnceUnlessTheOperatorSetsALinger() async throws {
        let cluster = try KafkaMockCluster()
        let byDefault = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        #expect(byDefault.property("linger.ms") == "0")
        #expect(byDefault.property("enable.idempotence") == "true")
        #expect(byDefault.property("no.such.property") == nil)
        await byDefault.shutdown()
        let lingering = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers, properties: ["linger.ms": "7"]),
            logger: logger)
        #expect(lingering.property("linger.ms") == "7")
        await lingering.shutdown()
    }
}
