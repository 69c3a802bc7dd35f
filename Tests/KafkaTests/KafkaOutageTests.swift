import GreenlightTestSupport
import Kafka
import Testing

@Suite(.timeLimit(.minutes(2)))
struct KafkaOutageTests {
    let logger = TestEnvironment.logger("kafka-outage-tests")

    @Test func sendWhileBrokerIsDownFailsWithATypedErrorInBoundedTime() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("outage")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(
                bootstrapServers: cluster.bootstrapServers, properties: ["message.timeout.ms": "3000"]),
            logger: logger)
        try await producer.send(topic: topic, key: "k", value: Array("before".utf8))

        try cluster.setBrokerDown(1)
        let started = ContinuousClock.now
        await #expect {
            try await producer.send(topic: topic, key: "k", value: Array("during".utf8))
        } throws: { error in
            (error as? KafkaError)?.code == .messageTimedOut
        }
        // librdkafka notices the timeout on its broker thread's next scan, which may wait out a reconnect
        // back-off: bounded, but a few seconds past message.timeout.ms.
        #expect(ContinuousClock.now - started < .seconds(30))
        try cluster.setBrokerUp(1)
        await producer.shutdown(timeout: .seconds(2))
    }

    @Test func sendWhileBrokerIsDownSucceedsOnceItIsBack() async throws {
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("recover")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(
                bootstrapServers: cluster.bootstrapServers,
                properties: ["message.timeout.ms": "45000", "reconnect.backoff.max.ms": "1000"]),
            logger: logger)
        try await producer.send(topic: topic, key: "k", value: Array("before".utf8))

        try cluster.setBrokerDown(1)
        async let sent = producer.send(topic: topic, key: "k", value: Array("during".utf8))
        try await Task.sleep(for: .seconds(1))
        try cluster.setBrokerUp(1)
        let report = try await sent
        #expect(report.offset == 1)
        await producer.shutdown()
    }
}
