import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
@testable import Orchestrator
import Postgres
import Testing

@Suite(.timeLimit(.minutes(2)))
struct PoisonEventTests {
    @Test func connectionTroubleIsRetriedForeverOtherFailuresFiveTimes() {
        let lost = PostgresError(.connectionLost, "server closed the connection")
        let refused = PostgresError(.connectionFailed, "connection refused")
        let deadlock = PostgresError(.queryFailed, "deadlock detected", sqlState: "40P01")
        let broken = PostgresError(.queryFailed, "value too long", sqlState: "22001")
        #expect(!EventProcessor.isPoison(lost, attempt: 100))
        #expect(!EventProcessor.isPoison(refused, attempt: 100))
        #expect(!EventProcessor.isPoison(deadlock, attempt: 100))
        #expect(!EventProcessor.isPoison(broken, attempt: 4))
        #expect(EventProcessor.isPoison(broken, attempt: 5))
        #expect(EventProcessor.isPoison(CancellationError(), attempt: 5))
    }

    /// Errors of the server's state, not of the event: never the event's fault, however often they repeat.
    @Test(arguments: ["25006", "53100", "53200", "53300", "57014", "57P01", "57P03", "58030", "55P03", "42P01", "XX000"])
    func serverStateErrorsAreNeverPoison(sqlState: String) {
        let error = PostgresError(.queryFailed, "the server cannot do this now", sqlState: sqlState)
        #expect(error.isTransient)
        #expect(!EventProcessor.isPoison(error, attempt: 1000))
    }

    /// Errors the values themselves cause: the event's fault once it has failed five times.
    @Test(arguments: ["22001", "22021", "22P02", "23505", "23503", "54000"])
    func contentErrorsArePoison(sqlState: String) {
        let error = PostgresError(.queryFailed, "the values do not fit", sqlState: sqlState)
        #expect(!error.isTransient)
        #expect(EventProcessor.isPoison(error, attempt: 5))
    }

    /// A database that turns read-only (a failover to a standby, 25006) pauses the event instead of sending an
    /// accepted request to the dead-letter topic: it is applied once writes work again.
    @Test func aReadOnlyDatabasePausesTheEventUntilWritesWorkAgain() async throws {
        let logs = CapturingLogHandler.Store()
        let logger = logs.logger("orchestrator")
        let database = try await TestDatabase.create("readonly")
        let pool = try database.pool()
        defer { pool.close() }
        try await GreenlightDatabase.migrate(pool, logger: logger)
        let workflow = ApprovalWorkflow(linkSecret: LinkSecret("poison-event-tests-secret-0123456789")!)
        let engine = DurableEngine(workflows: [workflow], logger: logger)
        let cluster = try KafkaMockCluster()
        try cluster.createTopic(Topic.deadLetters.rawValue, partitions: 1)
        let kafka = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let producer = try KafkaProducer(configuration: kafka, logger: logger)
        let consumer = try KafkaConsumer(
            configuration: kafka, groupId: TestEnvironment.uniqueName("g"), topics: [Topic.deadLetters.rawValue],
            logger: logger)
        let processor = EventProcessor(
            consumer: consumer, producer: producer, pool: pool,
            handler: EventHandler(engine: engine, workflow: workflow, logger: logger), outboxWakeUp: WakeUpSignal(),
            logger: logger)
        let request = ApprovalRequested(
            requestId: "REQ-RO-1", amount: 10, currency: "USD", description: "d", requester: nil,
            approvers: ["a@example.com"], timeoutSeconds: 3600, submittedAt: Date())
        let message = KafkaMessage(
            topic: Topic.requests.rawValue, partition: 0, offset: 1, key: Array(request.requestId.utf8),
            value: Array(try GreenlightJSON.encode(request)), headers: [])

        try await database.setReadOnly(true)
        let handling = Task { try await processor.handle(message) }
        // Far more attempts than the five a poison event gets: the processor is still trying, nothing dead-lettered.
        let retried = try await eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
            logs.all.contains { $0.message.hasPrefix("Handling an event failed") && Int($0.metadata["attempt"] ?? "") ?? 0 >= 7 }
        }
        #expect(retried, "the event was not retried seven times")
        #expect(logs.all.contains { $0.metadata["error"]?.contains("25006") == true })
        #expect(!logs.all.contains { $0.message.contains("dead-letter") })

        try await database.setReadOnly(false)
        try await handling.value
        #expect(try await ApprovalReader(pool: pool).status(requestId: "REQ-RO-1")?.status == .pending)
        let dead = try await KafkaTopicReader.readAll(topic: Topic.deadLetters.rawValue, configuration: kafka, logger: logger)
        #expect(dead.isEmpty)
        await consumer.close()
        await producer.shutdown()
    }
}
