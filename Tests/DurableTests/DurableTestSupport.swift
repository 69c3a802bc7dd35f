import DurableExecution
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Postgres
import Synchronization
import Testing

/// Counts how often step bodies really ran, per test.
final class RunCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    func hit(_ key: String) { counts.withLock { $0[key, default: 0] += 1 } }
    func count(_ key: String) -> Int { counts.withLock { $0[key] ?? 0 } }
}

/// A workflow that creates a callback, runs a step, optionally waits, then returns the callback's result.
struct CallbackWorkflow: Workflow {
    static let name = "test.callback"
    struct Input: Codable, Sendable {
        var timeoutSeconds: Int
        var heartbeatSeconds: Int?
        var waitSeconds: Int?
        /// When set: if the callback has not ended after this long, a "nudge" step runs (then the wait goes on).
        var nudgeSeconds: Int?
    }

    let counter: RunCounter

    func run(context: DurableContext, input: Input) async throws -> JSONValue {
        let callback = try await context.createCallback(
            "approval", timeout: .seconds(input.timeoutSeconds), heartbeatTimeout: input.heartbeatSeconds.map { .seconds($0) })
        _ = try await context.step("after-create") { _ in
            counter.hit("\(context.executionName)/after-create")
            return 1
        }
        if let wait = input.waitSeconds { try await context.wait("pause", for: .seconds(wait)) }
        if let nudge = input.nudgeSeconds,
            try await !context.waitForCallback(callback, upTo: .seconds(nudge), name: "nudge-after")
        {
            _ = try await context.step("nudge") { _ in
                counter.hit("\(context.executionName)/nudge")
                return 1
            }
        }
        return try await callback.result(as: JSONValue.self)
    }
}

/// A workflow that takes `count` signals (strings) and returns them, each through a step; a receive whose deadline
/// passes adds "time" instead. A signal that starts with "note" is an observation: counted and recorded (`Noted`) as
/// it arrives, never taken; "note-fail" fails to be.
struct SignalWorkflow: Workflow {
    static let name = "test.signals"
    typealias Signal = String
    struct Input: Codable, Sendable {
        var count: Int
        var deadlineSeconds: Int?
    }

    let counter: RunCounter

    func run(context: DurableContext, input: Input) async throws -> [String] {
        let start = try await context.now()
        var taken: [String] = []
        while taken.count < input.count {
            let deadline = input.deadlineSeconds.map { start.addingTimeInterval(TimeInterval($0)) }
            switch try await context.receive(String.self, until: deadline, name: "next") {
            case .signal(let signal):
                taken.append(
                    try await context.step("take") { _ in
                        counter.hit("\(context.executionName)/\(signal)")
                        return signal
                    })
            case .timeReached, .callbackEnded:
                taken.append("time")
            }
        }
        return taken
    }

    func signalAfterEnd(_ signal: String, status: ExecutionStatus, input: Input, step: StepContext) async throws {
        counter.hit("\(step.executionName)/late/\(signal)")
    }

    func isObservation(_ signal: String) -> Bool { signal.hasPrefix("note") }

    struct RefusedNote: Error {}

    func signalObserved(_ signal: String, step: StepContext) async throws {
        step.record("Noted", ["Note": .string(signal)])
        if signal == "note-fail" { throw RefusedNote() }
        counter.hit("\(step.executionName)/noted/\(signal)")
    }
}

/// A fresh database with the engine's tables, and helpers to drive the engine in transactions.
struct EngineHarness {
    let pool: PostgresPool
    let engine: DurableEngine

    static func make(_ extra: [any Workflow] = []) async throws -> EngineHarness {
        let logger = TestEnvironment.logger("durable")
        let pool = try await TestDatabase.create("durable").pool(maxConnections: 6)
        try await PostgresMigrator.migrate(pool, component: DurableSchema.component, migrations: DurableSchema.migrations, logger: logger)
        let counter = RunCounter()
        return EngineHarness(pool: pool, engine: DurableEngine(workflows: [CallbackWorkflow(counter: counter), SignalWorkflow(counter: counter)] + extra, logger: logger), counter: counter)
    }

    init(pool: PostgresPool, engine: DurableEngine, counter: RunCounter) {
        self.pool = pool
        self.engine = engine
        self.counterStorage = counter
    }

    private let counterStorage: RunCounter
    var runs: RunCounter { counterStorage }

    func start(_ name: String, _ input: CallbackWorkflow.Input, at now: Date) async throws {
        try await pool.transaction { connection in
            try await engine.start(CallbackWorkflow(counter: counterStorage), name: name, input: input, on: connection, now: now)
        }
    }

    func send(_ completion: CallbackCompletion, to callbackId: UUID, at now: Date) async throws -> CallbackCommandResult {
        try await pool.transaction { try await engine.send(completion, toCallback: callbackId, on: $0, now: now) }
    }

    func signal(_ signal: String, to name: String, at now: Date) async throws -> SignalResult {
        try await pool.transaction { try await engine.signal(signal, to: SignalWorkflow.self, executionNamed: name, on: $0, now: now) }
    }

    func fire(at now: Date) async throws -> DurableEngine.FiredTimers {
        try await pool.transaction { try await engine.fireDueTimers(limit: 1000, on: $0, now: now) }
    }

    func callbackId(_ name: String) async throws -> UUID {
        try await pool.withConnection { try await engine.callbacks(ofExecution: name, on: $0) }.first!.callbackId
    }

    func execution(_ name: String) async throws -> (status: String, output: String?, errorType: String?, errorMessage: String?) {
        let row = try await pool.query(
            "SELECT status, output, error_type, error_message FROM durable_executions WHERE name = \(name)").first!
        let (status, output, errorType, errorMessage) = try row.decode((String, String?, String?, String?).self)
        return (status, output, errorType, errorMessage)
    }

    /// The plan PostgreSQL makes for `query` (its `EXPLAIN`), one line per node.
    func plan(_ query: PostgresQuery) async throws -> String {
        try await pool.query(query.prefixed(with: "EXPLAIN ")).column(String.self).joined(separator: "\n")
    }

    func history(_ name: String) async throws -> [HistoryEvent] {
        try await DurableReader(pool: pool).history(ofExecution: name) ?? []
    }
}
