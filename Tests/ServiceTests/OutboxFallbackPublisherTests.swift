import DurableExecution
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Postgres
import ServiceSupport
import Testing

/// Intake's and the callback receiver's publisher: to the broker while it answers, to the outbox when it does not,
/// and behind an earlier event of the same request that still waits in the outbox.
@Suite(.timeLimit(.minutes(1)))
struct OutboxFallbackPublisherTests {
    let logger = TestEnvironment.logger("fallback")

    @Test func anEventGoesBehindAnEarlierOneOfItsRequestThatWaitsInTheOutbox() async throws {
        let pool = try await TestDatabase.create("fallback").pool()
        defer { pool.close() }
        try await PostgresMigrator.migrate(pool, component: DurableSchema.component, migrations: DurableSchema.migrations, logger: logger)
        let cluster = try KafkaMockCluster()
        try cluster.createTopic(Topic.internalCommands.rawValue, partitions: 1)
        let kafka = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let producer = try KafkaProducer(configuration: kafka, logger: logger)
        let publisher = OutboxFallbackPublisher(producer: producer, pool: pool, logger: logger)
        func cancel(_ requestId: String) -> CancelRequested {
            CancelRequested(requestId: requestId, reason: "test", requestedAt: Date())
        }

        #expect(try await publisher.publish(cancel("REQ-1"), trace: .newTrace()) == .published)
        // REQ-2 has an event waiting in the outbox (the broker was away a moment ago): the next one queues behind it.
        try await pool.withConnection { connection in
            try await Outbox.write(topic: Topic.internalCommands.rawValue, key: "REQ-2", payload: "{}", trace: nil, on: connection)
        }
        #expect(try await publisher.publish(cancel("REQ-2"), trace: .newTrace()) == .queued)
        #expect(try await publisher.publish(cancel("REQ-3"), trace: .newTrace()) == .published)
        // Read for the topic (the key not known yet): an event waits there, so the key is looked at when publishing.
        let topicPlan = await publisher.plan(CancelRequested.self, key: nil)
        #expect(topicPlan == .checkKey)
        #expect(try await publisher.publish(cancel("REQ-2"), trace: .newTrace(), plan: topicPlan) == .queued)
        #expect(try await publisher.publish(cancel("REQ-6"), trace: .newTrace(), plan: topicPlan) == .published)
        // A topic where nothing waits: send.
        #expect(await publisher.plan(DecisionSubmitted.self, key: nil) == .direct)
        #expect(await publisher.plan(CancelRequested.self, key: "REQ-6") == .direct)
        // Order is per topic: the orchestrator's rows for another topic (its notifications) hold nothing back.
        try await pool.withConnection { connection in
            try await Outbox.write(topic: Topic.notifications.rawValue, key: "REQ-5", payload: "{}", trace: nil, on: connection)
        }
        #expect(try await publisher.publish(cancel("REQ-5"), trace: .newTrace()) == .published)
        let keys = try await KafkaTopicReader.readAll(topic: Topic.internalCommands.rawValue, configuration: kafka, logger: logger)
            .compactMap(\.keyString)
        #expect(keys == ["REQ-1", "REQ-3", "REQ-6", "REQ-5"])
        #expect(try await pool.query("SELECT count(*) FROM durable_outbox WHERE message_key = 'REQ-2'").column(Int.self) == [3])

        // With the broker away, the event is stored and said to be.
        try await cluster.setBrokerDown(1)
        #expect(try await publisher.publish(cancel("REQ-4"), trace: .newTrace()) == .queued)
        try await cluster.setBrokerUp(1)
        await producer.shutdown(timeout: .seconds(5))
    }
}
