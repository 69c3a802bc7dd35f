import GreenlightTestSupport
import Kafka
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(2)))
struct KafkaLagAndReaderTests {
    let logger = TestEnvironment.logger("kafka-lag-reader-tests")

    @Test func lagIsTheHighWatermarkMinusTheCommittedOffset() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("lag")
        try cluster.createTopic(topic, partitions: 1)
        let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        for index in 1...5 {
            try await producer.send(topic: topic, key: "k", value: Array("m\(index)".utf8))
        }
        let consumer = try KafkaConsumer(
            configuration: configuration, groupId: TestEnvironment.uniqueName("group"), topics: [topic], logger: logger)
        var iterator = consumer.messages.makeAsyncIterator()
        // Before any commit, everything written is lag.
        let first = try #require(try await iterator.next())
        let before = try await consumer.lag()
        #expect(before == [PartitionLag(topic: topic, partition: 0, committed: nil, highWatermark: 5, lag: 5)])

        try await consumer.commit(first)
        let second = try #require(try await iterator.next())
        try await consumer.commit(second)
        let after = try await consumer.lag()
        #expect(after == [PartitionLag(topic: topic, partition: 0, committed: 2, highWatermark: 5, lag: 3)])
        await consumer.close()
        await producer.shutdown()
    }

    @Test func topicReaderReadsEveryPartitionToItsEndWithoutMovingAnyGroup() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("read-all")
        try cluster.createTopic(topic, partitions: 3)
        let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        #expect(try await KafkaTopicReader.readAll(topic: topic, configuration: configuration, logger: logger).isEmpty)

        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        for index in 1...12 {
            try await producer.send(topic: topic, key: "key-\(index % 5)", value: Array("m\(index)".utf8))
        }
        let messages = try await KafkaTopicReader.readAll(topic: topic, configuration: configuration, logger: logger)
        #expect(Set(messages.map { String(decoding: $0.value, as: UTF8.self) }) == Set((1...12).map { "m\($0)" }))
        #expect(messages.count == 12)
        // A second read sees the same messages: the reader commits nothing.
        let again = try await KafkaTopicReader.readAll(topic: topic, configuration: configuration, logger: logger)
        #expect(again.count == 12)

        await producer.shutdown()
    }

    @Test func aGroupStartedAtTheEndReadsOnlyWhatIsWrittenAfterwards() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("start-at-end")
        try cluster.createTopic(topic, partitions: 3)
        let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        // Two of the three partitions hold earlier messages; the third is empty.
        for index in 0..<20 { try await producer.send(topic: topic, key: "old-\(index % 2)", value: Array("old-\(index)".utf8)) }

        let group = TestEnvironment.uniqueName("group")
        try await KafkaTopicReader.startGroupAtEnd(group, topics: [topic], configuration: configuration, logger: logger)
        let committed = try await KafkaTopicReader.lag(ofGroup: group, topics: [topic], configuration: configuration, logger: logger)
        #expect(committed.count == 3)
        #expect(committed.allSatisfy { $0.lag == 0 && $0.committed == $0.highWatermark }, "\(committed)")
        #expect(committed.map(\.highWatermark).reduce(0, +) == 20)

        let consumer = try KafkaConsumer(configuration: configuration, groupId: group, topics: [topic], logger: logger)
        try await waitUntil(timeout: .seconds(20)) { !(try await consumer.assignment().isEmpty) }
        for index in 0..<6 { try await producer.send(topic: topic, key: "new-\(index)", value: Array("new-\(index)".utf8)) }
        var iterator = consumer.messages.makeAsyncIterator()
        var read: [String] = []
        for _ in 0..<6 { read.append(String(decoding: try #require(try await iterator.next()).value, as: UTF8.self)) }
        #expect(Set(read) == Set((0..<6).map { "new-\($0)" }), "read \(read)")
        await consumer.close()
        await producer.shutdown()
    }

    @Test func aGroupTheBrokerWillNotLetStartAtTheEndIsAnError() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("start-refused")
        try cluster.createTopic(topic, partitions: 2)
        let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        cluster.failNextRequests(.offsetCommit, with: [.groupAuthorizationFailed])
        let group = TestEnvironment.uniqueName("group")
        await #expect(throws: KafkaError.self) {
            try await KafkaTopicReader.startGroupAtEnd(
                group, topics: [topic], configuration: configuration, logger: logger, timeout: .seconds(5))
        }
    }

    @Test func partitionsAreHandledSideBySideEachInOrderAndCommitted() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("lanes")
        try cluster.createTopic(topic, partitions: 3)
        let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        for index in 0..<30 {
            try await producer.send(topic: topic, key: "key-\(index % 3)", value: Array("\(index)".utf8))
        }
        let group = TestEnvironment.uniqueName("group")
        let consumer = try KafkaConsumer(configuration: configuration, groupId: group, topics: [topic], logger: logger)
        let seen = Mutex<[Int32: [Int]]>([:])
        let slowPartition = Mutex<Int32?>(nil)
        let overlapped = Mutex(false)
        let active = Mutex(0)
        let run = Task {
            try await consumer.forEachMessageByPartition(maxInFlight: 8, { message in
                let now = active.withLock { $0 += 1; return $0 }
                if now > 1 { overlapped.withLock { $0 = true } }
                // The first partition seen is slow: the others must not wait for it.
                let slow = slowPartition.withLock { $0 = $0 ?? message.partition; return $0 == message.partition }
                if slow { try await Task.sleep(for: .milliseconds(50)) }
                seen.withLock { $0[message.partition, default: []].append(Int(String(decoding: message.value, as: UTF8.self))!) }
                active.withLock { $0 -= 1 }
            }, commitFailed: { _, _ in })
        }
        try await waitUntil(timeout: .seconds(30)) { seen.withLock { $0.values.map(\.count).reduce(0, +) } == 30 }
        await consumer.close()
        try await run.value
        let byPartition = seen.withLock { $0 }
        #expect(byPartition.values.map(\.count).reduce(0, +) == 30)
        for values in byPartition.values { #expect(values == values.sorted(), "out of order: \(values)") }
        #expect(overlapped.withLock { $0 }, "the partitions were handled one after another")

        // Everything handled was committed: the group has nothing left.
        let again = try KafkaConsumer(configuration: configuration, groupId: group, topics: [topic], logger: logger)
        try await waitUntil(timeout: .seconds(20)) { !(try await again.assignment().isEmpty) }
        #expect(try await again.lag().map(\.lag).reduce(0, +) == 0)
        await again.close()
        await producer.shutdown()
    }

    @Test func aLaneThatFallsBehindCatchesUpInBatchesInOrderAndCommitted() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("batches")
        try cluster.createTopic(topic, partitions: 1)
        let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let group = TestEnvironment.uniqueName("group")
        let consumer = try KafkaConsumer(configuration: configuration, groupId: group, topics: [topic], logger: logger)
        let batches = Mutex<[[Int]]>([])
        let run = Task {
            try await consumer.forEachBatchByPartition(maxBatch: 8, { messages in
                // Slow on the first batch, so that the rest pile up behind it.
                let first = batches.withLock { $0.isEmpty }
                if first { try await Task.sleep(for: .milliseconds(500)) }
                batches.withLock { $0.append(messages.map { Int(String(decoding: $0.value, as: UTF8.self))! }) }
            }, commitFailed: { _, _ in })
        }
        for index in 0..<40 { try await producer.send(topic: topic, key: "k", value: Array("\(index)".utf8)) }
        try await waitUntil(timeout: .seconds(30)) { batches.withLock { $0.joined().count } == 40 }
        await consumer.close()
        try await run.value
        let seen = batches.withLock { $0 }
        #expect(Array(seen.joined()) == Array(0..<40), "every message once, in order")
        #expect(seen.allSatisfy { !$0.isEmpty && $0.count <= 8 })
        #expect(seen.contains { $0.count > 1 }, "the lane never caught up in a batch: \(seen.map(\.count))")

        let again = try KafkaConsumer(configuration: configuration, groupId: group, topics: [topic], logger: logger)
        try await waitUntil(timeout: .seconds(20)) { !(try await again.assignment().isEmpty) }
        #expect(try await again.lag().map(\.lag).reduce(0, +) == 0)
        await again.close()
        await producer.shutdown()
    }
}
