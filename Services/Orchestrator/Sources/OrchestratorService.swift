import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Hummingbird
import Kafka
import Logging
import Metrics
import Postgres
import ServiceLifecycle
import ServiceSupport

/// Builds and runs the orchestrator: the event processor, the timer scheduler, the outbox relay, the janitor
/// and a health endpoint.
public enum OrchestratorService {
    public static let consumerGroup = "greenlight-orchestrator"

    /// The most database connections an orchestrator uses at once when the topics have `partitions` partitions
    /// (`GREENLIGHT_KAFKA_PARTITIONS`) and `timerWorkers` fire timers (`GREENLIGHT_TIMER_WORKERS`): a transaction per
    /// lane of each consumer (one lane per partition number it holds), one per timer worker, and one each for the
    /// outbox relay, the janitor, the gauges and a readiness check.
    /// With fewer connections than that, the lanes of an orchestrator that holds every partition (the only one, or
    /// the one left after a failover) would queue for connections behind each other and behind its readiness check.
    /// Connections are opened as they are needed, so one that holds a share of the partitions opens about its share.
    public static func poolSize(partitions: Int, timerWorkers: Int) -> Int {
        ConsumedTopics.allCases.count * partitions + timerWorkers + 4
    }

    public static func run(configuration: OrchestratorConfiguration, logger: Logger) async throws {
        logger.info("Starting greenlight-orchestrator", metadata: ["configuration": "\(configuration.banner)"])
        let kafka = configuration.common.kafka
        try await createTopics(configuration.common, logger: logger)
        let pool = try await openMigratedPool(
            configuration.database,
            maxConnections: poolSize(partitions: configuration.common.topicPartitions, timerWorkers: configuration.timerWorkers),
            logger: logger, migrate: GreenlightDatabase.migrate)
        // The relay's producer retries each message until the broker takes it (see OutboxRelay).
        var producerConfiguration = kafka
        producerConfiguration.properties.merge(OutboxRelay.producerProperties) { _, relay in relay }
        let producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
        // Two members of the one group: new requests on one, everything said about existing requests (decisions,
        // commands, delivery reports) on the other, each with its own fetch queue and lanes. A flood of new requests
        // fills only its own member's queue, so a person's click is applied in a transaction or two rather than
        // after every request queued before it. (A decision that still gets ahead of its request is kept by the
        // request's workflow until the request arrives: the two topics were never consumed in publishing order.)
        let consumers = try ConsumedTopics.allCases.map { topics in
            try KafkaConsumer(configuration: kafka, groupId: consumerGroup, topics: topics.names, logger: logger)
        }
        let outboxWakeUp = WakeUpSignal()
        let timerWakeUp = WakeUpSignal()
        let workflow = ApprovalWorkflow(
            linkSecret: configuration.linkSecret, fourEyes: configuration.fourEyes, callbacks: configuration.callbacks,
            lifecycleEvents: configuration.lifecycleEvents, logger: logger)
        // Links from before their secret's id was kept were made with this secret (there was no rotation then):
        // named now, so that their reminders and resends still carry them after a rotation.
        let named = try await pool.withConnection { try await ApprovalWriter($0).nameLinkKeyOfOlderLinks(configuration.linkSecret.id) }
        if named > 0 { logger.info("Named the link secret of links made before this release", metadata: ["links": "\(named)"]) }
        // With GREENLIGHT_EVENT_FORMAT=cloudevents, outcomes and lifecycle events carry CloudEvents' ce_* headers.
        let engine = DurableEngine(workflows: [workflow], logger: logger, messageHeaders: configuration.events.messageHeaders)

        let lanes = LaneWatch()
        let router = makeServiceRouter(checks: [
            ("kafka", {
                // Side by side, so that a slow broker costs one check's time, not one per consumer.
                await withTaskGroup(of: Bool.self) { group in
                    for consumer in consumers { group.addTask { await consumer.isConnected() } }
                    return await group.allSatisfy { $0 }
                }
            }),
            ReadinessCheck.postgres(pool), ("events", { lanes.check() }),
            ("outbox", { ((try? await OutboxRelay.backlogAge(on: pool)) ?? .infinity) < 60 }),
        ])
        let server = makeHTTPServer(
            router: router, host: configuration.common.httpHost, port: configuration.common.httpPort,
            serviceName: "greenlight-orchestrator", logger: logger)

        let handler = EventHandler(engine: engine, workflow: workflow, logger: logger)
        let statistics = TableGrowth(tables: ApprovalSchema.growingTables + DurableSchema.growingTables)
        let processors = zip(ConsumedTopics.allCases, consumers).map { topics, consumer in
            // New requests are what fills the tables; the other consumer's lanes, where clicks wait, never stop for an
            // ANALYZE.
            EventProcessor(
                consumer: consumer, producer: producer, pool: pool, handler: handler, outboxWakeUp: outboxWakeUp,
                logger: logger, name: topics.rawValue, lanes: lanes, statistics: topics == .requests ? statistics : nil)
        }
        let timers = TimerScheduler(
            pool: pool, engine: engine, pollInterval: configuration.pollInterval, wakeUp: timerWakeUp, logger: logger,
            batchSize: 25
        ) { fired in
            outboxWakeUp.signal()
            let lateness = Recorder(label: "greenlight_timer_lateness_seconds")
            for seconds in fired.lateness { lateness.record(seconds) }
            if let worst = fired.lateness.max(), worst > 1 {
                logger.warning("Timers fired late", metadata: ["count": "\(fired.count)", "maxLatenessSeconds": "\(worst)"])
            }
            if !fired.failed.isEmpty {
                Counter(label: "greenlight_timer_failures_total").increment(by: fired.failed.count)
            }
        }
        let relay = OutboxRelay(
            pool: pool, producer: producer, wakeUp: outboxWakeUp, pollInterval: configuration.pollInterval, logger: logger)
        let janitor = Janitor(pool: pool, logger: logger, inboxRetention: configuration.inboxRetention)

        try await ServiceRunner.run(
            [
                PostgresPoolService(pool),
                KafkaProducerService(producer),
                ClosureService("outbox-relay") { try await cancelWhenShuttingDown { try await relay.run() } },
                ClosureService("timer-scheduler") { try await cancelWhenShuttingDown { try await timers.run(workers: configuration.timerWorkers) } },
                ClosureService("janitor") { try await cancelWhenShuttingDown { try await janitor.run() } },
                ClosureService("statistics") {
                    try await cancelWhenShuttingDown { await statistics.renewWhenDue(on: pool, logger: logger) }
                },
                ClosureService("gauges") { try await cancelWhenShuttingDown { try await StateGauges(pool: pool, lanes: lanes).run() } },
            ]
                + processors.map { processor in
                    ClosureService("consumer-lag-\(processor.name)") {
                        try await cancelWhenShuttingDown {
                            try await ConsumerLagGauge(consumer: processor.consumer, logger: logger).run()
                        }
                    }
                }
                + [
                    // Both consumers in one service, closed together at shutdown: the group rebalances once for the
                    // two members leaving, and the events in hand are finished side by side within the grace period.
                    ClosureService("event-processors") {
                        try await runUntilShutdown {
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                for processor in processors { group.addTask { try await processor.run() } }
                                try await group.waitForAll()
                            }
                        } onShutdown: {
                            // Ends the message sequences; the handlers finish the events in hand first.
                            for consumer in consumers { Task { await consumer.close() } }
                        }
                    },
                    server,
                ], logger: logger)
    }

    /// What each of the orchestrator's consumers reads (see `run`).
    enum ConsumedTopics: String, CaseIterable {
        /// New requests: `ApprovalRequested`.
        case requests
        /// What is said about requests that exist: decisions and callback commands, and Greenlight's own commands and
        /// delivery reports.
        case signals

        var names: [String] {
            switch self {
            case .requests: [Topic.requests.rawValue]
            case .signals: [Topic.decisions.rawValue, Topic.internalCommands.rawValue]
            }
        }
    }

    static func createTopics(_ common: CommonConfiguration, logger: Logger) async throws {
        let admin = try KafkaAdmin(configuration: common.kafka, logger: logger)
        try await Backoff().retrying("Creating Kafka topics", logger: logger) {
            try await admin.createTopics(
                Topic.allCases.map(\.rawValue), partitions: common.topicPartitions,
                replicationFactor: common.topicReplicationFactor)
        }
    }
}
