import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Kafka
import Logging
import Postgres
import ServiceSupport

/// What the console reads and the one thing it writes other than events (a dead letter's replay).
public protocol ConsoleBackend: Sendable {
    func search(_ search: ConsoleSearch) async throws -> (requests: [RequestStatusBody], more: Bool)
    func consoleCounts() async throws -> ConsoleCounts
    /// Messages the orchestrator's consumer group has yet to commit, over all its partitions.
    func orchestratorLag() async throws -> Int64
    func status(requestId: String) async throws -> RequestStatusBody?
    func decisionAttempts(requestId: String) async throws -> [DecisionAttempt]
    func history(requestId: String) async throws -> [HistoryEvent]?
    func deadLetters() async throws -> [DeadLetter]
    func replayDeadLetter(_ eventId: UUID) async throws -> DeadLetter
}

/// The live backend: the approval and durable tables (read-only), the orchestrator's group on Kafka, and the
/// dead-letter topic.
public struct LiveConsoleBackend: ConsoleBackend {
    /// The orchestrator's consumer group and the topics it reads (see `OrchestratorService`).
    public static let orchestratorGroup = "greenlight-orchestrator"
    static let orchestratorTopics = [Topic.requests, .decisions, .internalCommands].map(\.rawValue)

    let approvals: ApprovalReader
    let durable: DurableReader
    let kafka: KafkaConfiguration
    let producer: KafkaProducer
    let logger: Logger

    public init(pool: PostgresPool, kafka: KafkaConfiguration, producer: KafkaProducer, logger: Logger) {
        approvals = ApprovalReader(pool: pool)
        durable = DurableReader(pool: pool)
        self.kafka = kafka
        self.producer = producer
        self.logger = logger
    }

    public func search(_ search: ConsoleSearch) async throws -> (requests: [RequestStatusBody], more: Bool) {
        try await approvals.search(search)
    }

    public func consoleCounts() async throws -> ConsoleCounts { try await approvals.consoleCounts() }

    public func orchestratorLag() async throws -> Int64 {
        try await KafkaTopicReader.lag(
            ofGroup: Self.orchestratorGroup, topics: Self.orchestratorTopics, configuration: kafka, logger: logger
        ).reduce(0) { $0 + $1.lag }
    }

    public func status(requestId: String) async throws -> RequestStatusBody? { try await approvals.status(requestId: requestId) }

    public func decisionAttempts(requestId: String) async throws -> [DecisionAttempt] {
        try await approvals.decisionAttempts(requestId: requestId)
    }

    public func history(requestId: String) async throws -> [HistoryEvent]? {
        try await durable.history(ofExecution: requestId)
    }

    public func deadLetters() async throws -> [DeadLetter] {
        try await DeadLetterArchive(configuration: kafka, logger: logger).letters()
    }

    public func replayDeadLetter(_ eventId: UUID) async throws -> DeadLetter {
        try await DeadLetterArchive(configuration: kafka, logger: logger).replay(eventId, with: producer)
    }
}
