import GreenlightTestSupport
import Kafka
import Testing

@Suite(.timeLimit(.minutes(1)))
struct KafkaAdminTests {
    let logger = TestEnvironment.logger("kafka-admin-tests")

    @Test func existingTopicsAreFoundAndNotCreatedAgain() async throws {
        let cluster = try KafkaMockCluster()
        let topics = [TestEnvironment.uniqueName("a"), TestEnvironment.uniqueName("b")]
        for topic in topics { try cluster.createTopic(topic, partitions: 2) }
        let admin = try KafkaAdmin(
            configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        #expect(try await admin.topicNames().isSuperset(of: topics))
        #expect(try await admin.createTopics(topics, partitions: 2, replicationFactor: 1).isEmpty)
    }

    /// librdkafka 2.0's embedded broker does not implement CreateTopics; the request must fail with a typed error
    /// within its timeout rather than hang (a real broker creates the topic).
    @Test func createTopicsFailsInBoundedTimeWhenTheBrokerCannot() async throws {
        let cluster = try KafkaMockCluster()
        let admin = try KafkaAdmin(
            configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        let started = ContinuousClock.now
        do {
            let created = try await admin.createTopics(
                [TestEnvironment.uniqueName("new")], partitions: 3, replicationFactor: 1, timeout: .seconds(2))
            #expect(created.count == 1)
        } catch let error as KafkaError {
            #expect(error.code == .adminFailed)
        }
        // Bounded (librdkafka would otherwise wait on the broker indefinitely); the margin is for a busy machine.
        #expect(ContinuousClock.now - started < .seconds(30))
    }
}
