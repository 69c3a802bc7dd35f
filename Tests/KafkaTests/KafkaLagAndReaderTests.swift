import GreenlightTestSupport
import Kafka
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
}
