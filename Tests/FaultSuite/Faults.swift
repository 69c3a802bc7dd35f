import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Logging
import Postgres

/// How big a run is.
struct Scale: Sendable {
    var requests: Int
    /// How long the load (and the fault inside it) lasts.
    var window: Duration
    var outage: Duration
    var orchestratorKills: Int
    var churnRounds: Int
    /// The deadline of the requests left to time out.
    var timeoutSeconds: Int

    static let reduced = Scale(
        requests: 240, window: .seconds(25), outage: .seconds(15), orchestratorKills: 5, churnRounds: 2, timeoutSeconds: 15)
    static let full = Scale(
        requests: 1250, window: .seconds(130), outage: .seconds(60), orchestratorKills: 20, churnRounds: 8, timeoutSeconds: 30)
}

/// One fault of the suite: what it does to the running stack while the load runs.
enum Fault: String, CaseIterable, Sendable {
    case orchestratorKills = "orchestrator-kills"
    case notifierChurn = "notifier-churn"
    case brokerDown = "broker-down"
    case smtpDown = "smtp-down"
    case postgresCrash = "postgres-crash"
    case fastClock = "fast-clock"
    case poison
    case relayPause = "relay-pause"

    var summary: String {
        switch self {
        case .orchestratorKills: "kill -9 of the orchestrator at random 2–10 s intervals"
        case .notifierChurn: "3 notifiers; one killed (kill -9) and one started every 15 s"
        case .brokerDown: "the Kafka broker down"
        case .smtpDown: "the SMTP server down"
        case .postgresCrash: "Postgres stopped with -m immediate under load, then restarted"
        case .fastClock: "a second orchestrator whose clock is 300 s fast"
        case .poison: "bad JSON, an unknown type, an unknown version and a message at the size limit, on the three input topics"
        case .relayPause: "SIGSTOP of the outbox relay's holder for twice its lease"
        }
    }
}

/// What the runner was given to work with.
struct FaultEnvironment: Sendable {
    /// Stops and starts the Postgres server the stack uses (`pg_ctl -m immediate stop`, `pg_ctl start`).
    var postgresStop: String
    var postgresStart: String
    /// Makes a process's clock run fast (LD_PRELOAD of Tests/clock/skewed_clock.c).
    var fastClock: [String: String]
}

/// What happened during one fault: when it ended (the dependency back, the process restarted), and how long the
/// stack took to complete new work after each end.
struct FaultTimeline: Sendable {
    var recoveries: [Duration] = []
    var notes: [String] = []
    /// Notifiers killed with SIGKILL: each can leave at most one message per sender in the crash window.
    var notifierKills = 0
}

extension Fault {
    /// Applies the fault to `stack` while `driver`'s load runs; returns the recoveries measured.
    func inject(
        into stack: ServiceStack, driver: LoadDriver, scale: Scale, environment: FaultEnvironment, logger: Logger
    ) async throws -> FaultTimeline {
        var timeline = FaultTimeline()
        /// A probe of the whole path right after a fault ended: its latency is the recovery.
        func probe(_ label: String) async {
            if let latency = await driver.probe(label) { timeline.recoveries.append(latency) } else {
                timeline.notes.append("probe \(label) never completed")
            }
        }
        let quarter = scale.window / 4
        switch self {
        case .orchestratorKills:
            for round in 0..<scale.orchestratorKills {
                try await Task.sleep(for: .milliseconds(Int.random(in: 2000...10_000)))
                try await stack.killAndRestart("orchestrator")
                // Every other kill is probed (a probe takes a few seconds; the next kill comes regardless).
                if round.isMultiple(of: 2) { await probe("kill-\(round)") }
            }
        case .notifierChurn:
            var running = ["notifier"]
            for index in 2...3 {
                let name = "notifier-\(index)"
                _ = try await stack.startAnother("notifier", as: name)
                running.append(name)
            }
            for round in 0..<scale.churnRounds {
                try await Task.sleep(for: .seconds(15))
                let victim = running.remove(at: Int.random(in: 0..<running.count))
                await stack.kill(victim)
                timeline.notifierKills += 1
                let name = "notifier-churn-\(round)"
                _ = try await stack.startAnother("notifier", as: name)
                running.append(name)
                if let latency = await driver.emailProbe("churn-\(round)") { timeline.recoveries.append(latency) }
            }
        case .brokerDown:
            try await Task.sleep(for: quarter)
            try await stack.cluster.setBrokerDown(1)
            try await Task.sleep(for: scale.outage)
            try await stack.cluster.setBrokerUp(1)
            await probe("broker-up")
        case .smtpDown:
            try await Task.sleep(for: quarter)
            await stack.sink.pause()
            try await Task.sleep(for: scale.outage)
            stack.sink.resume()
            if let latency = await driver.emailProbe("smtp-up") { timeline.recoveries.append(latency) }
        case .postgresCrash:
            try await Task.sleep(for: quarter)
            guard try await ChildProcess.shell(environment.postgresStop) == 0 else {
                throw ChildProcessError(description: "cannot stop Postgres: \(environment.postgresStop)")
            }
            try await Task.sleep(for: min(scale.outage, .seconds(20)))
            guard try await ChildProcess.shell(environment.postgresStart) == 0 else {
                throw ChildProcessError(description: "cannot start Postgres again: \(environment.postgresStart)")
            }
            await probe("postgres-up")
        case .fastClock:
            let fast = try await stack.startAnother("orchestrator", as: "orchestrator-fast", environment: environment.fastClock)
            _ = try await ServiceStack.listeningPort(of: fast)
            try await Task.sleep(for: scale.window)
            await probe("with-fast-clock")
        case .poison:
            try await Task.sleep(for: quarter)
            let started = ContinuousClock.now
            let kafka = KafkaConfiguration(bootstrapServers: stack.cluster.bootstrapServers)
            let producer = try KafkaProducer(configuration: kafka, logger: logger)
            let filler = String(repeating: "x", count: 999_800)
            let poison = [
                "not json", #"{"type": "Nope", "version": 1}"#, #"{"type": "ApprovalRequested", "version": 9}"#,
                #"{"type":"DecisionSubmitted","version":1,"comment":"\#(filler)"}"#,
            ]
            for topic in [Topic.requests, .decisions, .internalCommands] {
                for (index, value) in poison.enumerated() {
                    // Keyed like load requests, so they sit ahead of real events on the same partitions.
                    try await producer.send(topic: topic.rawValue, key: "\(driver.prefix)-\(index)", value: Array(value.utf8))
                }
            }
            await producer.shutdown()
            await probe("after-poison")
            let letters = try await KafkaTopicReader.readAll(topic: Topic.deadLetters.rawValue, configuration: kafka, logger: logger)
            timeline.notes.append("\(letters.count) dead letters \(ContinuousClock.now - started) after the poison")
            if letters.count < poison.count * 2 { timeline.notes.append("expected \(poison.count * 2) dead letters") }
        case .relayPause:
            let second = try await stack.startAnother("orchestrator", as: "orchestrator-2")
            _ = try await ServiceStack.listeningPort(of: second)
            try await Task.sleep(for: quarter)
            let pool = try stack.database.pool()
            defer { pool.close() }
            let holder = try await pool.query("SELECT holder FROM durable_outbox_lease").column(String?.self).first ?? nil
            guard let pidText = holder?.split(separator: "/").dropFirst().first, let pid = pid_t(pidText) else {
                throw ChildProcessError(description: "no relay holds the outbox lease (\(holder ?? "none"))")
            }
            Glibc.kill(pid, SIGSTOP)
            let stopped = ContinuousClock.now
            // Measured from the stop: another relay must take over while the holder is still frozen.
            if let latency = await driver.probe("relay-stopped") { timeline.recoveries.append(latency) }
            let frozen = ContinuousClock.now - stopped
            if frozen < .seconds(10) { try await Task.sleep(for: .seconds(10) - frozen) }
            Glibc.kill(pid, SIGCONT)
            timeline.notes.append("relay holder pid \(pid) stopped for \(ContinuousClock.now - stopped)")
        }
        return timeline
    }
}
