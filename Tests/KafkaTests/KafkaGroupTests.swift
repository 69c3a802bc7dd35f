import GreenlightTestSupport
import Kafka
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(3)))
struct KafkaGroupTests {
    let logger = TestEnvironment.logger("kafka-group-tests")

    @Test func twoConsumersInAGroupSplitThePartitions() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("split")
        try cluster.createTopic(topic, partitions: 4)
        let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let group = TestEnvironment.uniqueName("group")
        let first = try KafkaConsumer(configuration: configuration, groupId: group, topics: [topic], logger: logger)
        let second = try KafkaConsumer(configuration: configuration, groupId: group, topics: [topic], logger: logger)

        var firstPartitions: Set<Int32> = []
        var secondPartitions: Set<Int32> = []
        let split = try await eventually(timeout: .seconds(45), interval: .milliseconds(250)) {
            firstPartitions = Set(try await first.assignment().map(\.partition))
            secondPartitions = Set(try await second.assignment().map(\.partition))
            return !firstPartitions.isEmpty && !secondPartitions.isEmpty
                && firstPartitions.union(secondPartitions) == [0, 1, 2, 3]
        }
        #expect(split, "assignments: \(firstPartitions) and \(secondPartitions)")
        #expect(firstPartitions.isDisjoint(with: secondPartitions))
        await first.close()
        await second.close()
    }

    @Test func restartedConsumerResumesAfterLastCommittedOffset() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("resume")
        try cluster.createTopic(topic, partitions: 1)
        let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        for index in 1...5 {
            try await producer.send(topic: topic, key: "k", value: Array("m\(index)".utf8))
        }
        let group = TestEnvironment.uniqueName("group")

        let consumer = try KafkaConsumer(configuration: configuration, groupId: group, topics: [topic], logger: logger)
        var iterator = consumer.messages.makeAsyncIterator()
        var seen: [String] = []
        for _ in 1...3 {
            let message = try #require(try await iterator.next())
            seen.append(String(decoding: message.value, as: UTF8.self))
            try await consumer.commit(message)
        }
        #expect(seen == ["m1", "m2", "m3"])
        await consumer.close()

        let restarted = try KafkaConsumer(configuration: configuration, groupId: group, topics: [topic], logger: logger)
        var resumed = restarted.messages.makeAsyncIterator()
        let next = try #require(try await resumed.next())
        #expect(String(decoding: next.value, as: UTF8.self) == "m4")
        await restarted.close()
        await producer.shutdown()
    }

    /// A member that is busy (its buffer full, its handlers waiting) while another joins and leaves must come
    /// through the two rebalances and go on: committing must never wait on the rebalance that needs the poll.
    ///
    /// The embedded broker forms the group in rounds of the session timeout less a second, and a member that misses
    /// a round costs another: with the consumers' default 10 s session, a CI machine busy with every in-process suite
    /// once took more than 30 s to give the visitor its partitions. A 6 s session (the least a Kafka broker accepts)
    /// makes the rounds 5 s, and the visitor is given 45 s.
    @Test func aBusyMemberKeepsConsumingWhileAnotherJoinsAndLeaves() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("busy")
        try cluster.createTopic(topic, partitions: 4)
        let configuration = KafkaConfiguration(
            bootstrapServers: cluster.bootstrapServers, consumerProperties: ["session.timeout.ms": "6000"])
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        for index in 0..<400 { try await producer.send(topic: topic, key: "k\(index % 8)", value: Array("\(index)".utf8)) }
        let group = TestEnvironment.uniqueName("group")
        let seen = SeenValues()
        let busy = try KafkaConsumer(configuration: configuration, groupId: group, topics: [topic], logger: logger, bufferCapacity: 2)
        let busyRun = Task {
            try await busy.forEachMessageByPartition(maxInFlight: 2, { message in
                try await Task.sleep(for: .milliseconds(10))
                seen.record(message)
            }, commitFailed: { _, _ in })
        }
        try await waitUntil(timeout: .seconds(30)) { seen.count >= 20 }
        let visitor = try KafkaConsumer(configuration: configuration, groupId: group, topics: [topic], logger: logger)
        let visitorRun = Task {
            try await visitor.forEachMessageByPartition({ seen.record($0) }, commitFailed: { _, _ in })
        }
        try await waitUntil(timeout: .seconds(45)) { !(try await visitor.assignment().isEmpty) }
        try await Task.sleep(for: .seconds(1))
        await visitor.close()
        try await visitorRun.value
        let all = try await eventually(timeout: .seconds(60), interval: .milliseconds(250)) { seen.count == 400 }
        #expect(all, "stuck at \(seen.count) of 400 after the other member left")
        await busy.close()
        try await busyRun.value
        await producer.shutdown()
    }
}

/// The message values seen so far, by any consumer.
final class SeenValues: Sendable {
    private let values = Mutex<Set<Int>>([])
    func record(_ message: KafkaMessage) {
        _ = values.withLock { $0.insert(Int(String(decoding: message.value, as: UTF8.self))!) }
    }
    var count: Int { values.withLock { $0.count } }
}
