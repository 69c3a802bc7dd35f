import DurableExecution
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Postgres
import Synchronization
import Testing

/// A workflow that uses time, randomness, a retried step and an emitted event.
struct RecordingWorkflow: Workflow {
    static let name = "test.recording"
    struct Output: Codable, Sendable, Equatable {
        var now: Date
        var id: UUID
        var attempts: Int
        var decided: String
    }

    let counter: RunCounter

    func run(context: DurableContext, input: String) async throws -> Output {
        let now = try await context.now()
        let id = try await context.randomUUID()
        let attempts = try await context.step("flaky", retry: RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(1))) { step in
            counter.hit("\(context.executionName)/flaky")
            // Written, then thrown away when the attempt fails: only the successful attempt's row stays, and only its
            // work asked for after the commit is done.
            try await step.connection.query("INSERT INTO flaky_writes VALUES (\(context.executionName))")
            let committed = "\(context.executionName)/flaky committed"
            step.connection.afterCommit { [counter] in counter.hit(committed) }
            if counter.count("\(context.executionName)/flaky") < 3 { throw FlakyError() }
            return counter.count("\(context.executionName)/flaky")
        }
        try await context.emit(topic: "test.events", key: context.executionName, event: ["at": now])
        let callback = try await context.createCallback("go", timeout: .seconds(60))
        let decided: String = try await callback.result()
        return Output(now: now, id: id, attempts: attempts, decided: decided)
    }

    struct FlakyError: Error {}
}

/// A workflow whose code changed between invocations.
struct ShiftyWorkflow: Workflow {
    static let name = "test.shifty"
    static let flip = Mutex(false)

    func run(context: DurableContext, input: String) async throws -> String {
        if Self.flip.withLock({ $0 }) {
            try await context.wait("a different first operation", for: .seconds(1))
        } else {
            _ = try await context.step("first") { _ in 1 }
        }
        let callback = try await context.createCallback("go", timeout: .seconds(60))
        return try await callback.result()
    }
}

/// A workflow that creates a callback and never awaits it.
struct ForgetfulWorkflow: Workflow {
    static let name = "test.forgetful"

    func run(context: DurableContext, input: String) async throws -> String {
        _ = try await context.createCallback("ignored", timeout: .seconds(60))
        return "done"
    }
}

/// A workflow of `input` steps, each recording an event; the third fails once (its recorded event goes with it).
struct ManyStepsWorkflow: Workflow {
    static let name = "test.many-steps"
    let counter: RunCounter

    func run(context: DurableContext, input: Int) async throws -> Int {
        var total = 0
        for index in 0..<input {
            total += try await context.step("step-\(index)", retry: RetryPolicy(maxAttempts: 2, initialDelay: .milliseconds(1))) { step in
                counter.hit("\(context.executionName)/\(index)")
                step.record("Tried", ["Index": .number(Double(index)), "Quoted": .string("a \"b\" \\ {c}, NULL")])
                try await step.emit(
                    topic: "test.steps", key: context.executionName, event: ["index": "\(index)", "quoted": "a \"b\" {c}, NULL"],
                    headers: index.isMultiple(of: 2) ? ["x-index": "\(index)"] : [:])
                if index == 2, counter.count("\(context.executionName)/\(index)") == 1 { throw Flaky() }
                return index
            }
        }
        let callback = try await context.createCallback("go", timeout: .seconds(60))
        let _: String = try await callback.result()
        return total
    }

    struct Flaky: Error {}
}

/// Waits, then runs a step that fails with an error whose text holds a NUL, which no Postgres text can: its
/// checkpoint cannot be written. The workflow carries on past the failure.
struct UnwritableErrorWorkflow: Workflow {
    static let name = "test.unwritable-error"

    struct Unwritable: NonRetryableError, CustomStringConvertible {
        var description: String { "an error with a \u{0} in its text" }
    }

    func run(context: DurableContext, input: String) async throws -> String {
        try await context.wait("pause", for: .seconds(10))
        do {
            _ = try await context.step("fails") { _ -> Int in throw Unwritable() }
        } catch {
            return "went on"
        }
        return "unreachable"
    }
}

@Suite(.timeLimit(.minutes(2)))
struct EngineTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// An invocation's history events, checkpoints and outbox messages are sent as one statement each, in order, and
    /// what a step's rolled-back attempt recorded or emitted is not among them.
    @Test func anInvocationWritesItsHistoryCheckpointsAndMessagesInOneStatementEach() async throws {
        let counter = RunCounter()
        let steps = 12
        let harness = try await EngineHarness.make([ManyStepsWorkflow(counter: counter)])
        let sent = try await harness.pool.withConnection { connection in
            try await connection.execute(script: "BEGIN")
            let before = connection.statementsSent
            try await harness.engine.start(ManyStepsWorkflow(counter: counter), name: "many", input: steps, on: connection, now: t0)
            try await connection.execute(script: "COMMIT")
            return connection.statementsSent - before
        }
        var expected = ["ExecutionStarted"]
        for index in 0..<steps {
            expected += index == 2 ? ["StepStarted", "StepFailed", "Tried", "StepSucceeded"] : ["StepStarted", "Tried", "StepSucceeded"]
        }
        expected += ["CallbackStarted", "InvocationCompleted"]
        let history = try await harness.history("many")
        #expect(history.map(\.type) == expected)
        #expect(history.map(\.id) == Array(1...Int64(expected.count)))
        // The invocation's history is one row.
        #expect(try await harness.pool.query("SELECT count(*) FROM durable_history_pages").column(Int.self) == [1])
        #expect(try await harness.pool.query("SELECT count(*) FROM durable_history").column(Int.self) == [0])
        #expect(history.filter { $0.type == "Tried" }.map { $0.details["Quoted"] } == Array(repeating: .string("a \"b\" \\ {c}, NULL"), count: steps))
        #expect(history.allSatisfy { $0.timestamp == t0 })
        let operations = try await harness.pool.query(
            "SELECT position, kind, status FROM durable_operations ORDER BY position").decode((Int, String, String).self)
        #expect(operations.map(\.0) == Array(1...(steps + 1)))
        #expect(operations.allSatisfy { $0.2 == "SUCCEEDED" })
        // And so are its checkpoints.
        #expect(try await harness.pool.query("SELECT count(*) FROM durable_operation_pages").column(Int.self) == [1])
        let messages = try await harness.pool.query(
            "SELECT message_key, payload, headers::text FROM durable_outbox WHERE topic = 'test.steps' ORDER BY id"
        ).decode((String, String, String?).self)
        #expect(messages.map(\.0) == Array(repeating: "many", count: steps))
        #expect(
            messages.map { try! GreenlightJSON.decode([String: String].self, from: Data($0.1.utf8)) }
                == (0..<steps).map { ["index": "\($0)", "quoted": "a \"b\" {c}, NULL"] })
        #expect(messages.map(\.2) == (0..<steps).map { $0.isMultiple(of: 2) ? #"{"x-index": "\#($0)"}"# : nil })
        // A savepoint and its release per step, one more pair for the retry, and a dozen others (the lock, the
        // execution, the callback and its timer, the history, the checkpoints, the messages, the commit...): not one
        // per event or message.
        let savepoints = 2 * steps + 2
        #expect(
            sent <= savepoints + 12,
            "\(sent) statements for \(history.count) history events, \(operations.count) checkpoints and \(messages.count) messages")
    }

    /// What resumes an execution — a signal, a callback's end — and the invocation it starts are one history page, not
    /// one page for the arrival and another for the invocation.
    @Test func aSignalOrACallbackEndAndTheInvocationItStartsAreOnePage() async throws {
        let harness = try await EngineHarness.make()
        func pages() async throws -> Int {
            try await harness.pool.query("SELECT count(*) FROM durable_history_pages").column(Int.self).first ?? -1
        }
        _ = try await harness.pool.transaction {
            try await harness.engine.start(SignalWorkflow(counter: harness.runs), name: "signalled", input: .init(count: 2), on: $0, now: t0)
        }
        #expect(try await pages() == 1)
        #expect(try await harness.signal("a", to: "signalled", at: t0 + 1) == .delivered)
        #expect(try await pages() == 2)
        let signalled = try await harness.history("signalled").map(\.type)
        #expect(signalled.suffix(4) == ["SignalReceived", "StepStarted", "StepSucceeded", "InvocationCompleted"], "\(signalled)")

        try await harness.start("called", .init(timeoutSeconds: 60), at: t0)
        #expect(try await pages() == 3)
        #expect(try await harness.send(.success(#""done""#), to: harness.callbackId("called"), at: t0 + 1) == .accepted)
        #expect(try await pages() == 4)
        let history = try await harness.history("called").map(\.type)
        #expect(history.last == "ExecutionSucceeded", "\(history)")
        #expect(history.contains("CallbackSucceeded"), "\(history)")
    }

    /// An invocation that suspends leaves the execution's row alone (its history page dates it): the row is written
    /// when the execution starts and when it ends, not once more per invocation in between.
    @Test func invocationsThatSuspendDoNotWriteTheExecution() async throws {
        let harness = try await EngineHarness.make()
        let updatesInTransaction: PostgresQuery = "SELECT pg_stat_get_xact_tuples_updated('durable_executions'::regclass)"
        let updated = try await harness.pool.transaction { connection in
            try await harness.engine.start(
                CallbackWorkflow(counter: harness.runs), name: "dated", input: .init(timeoutSeconds: 60), on: connection, now: t0)
            return try await connection.query(updatesInTransaction).column(Int.self)
        }
        #expect(updated == [0])
        let dates = try await harness.pool.query(
            "SELECT status, created_at, updated_at FROM durable_executions WHERE name = 'dated'").decode((String, Date, Date).self)
        #expect(dates.map(\.0) == ["RUNNING"])
        #expect(dates.map(\.1) == [t0])
        #expect(dates.map(\.2) == [t0])

        // A later invocation that suspends again does not write it either; its history page has its time.
        let id = try await harness.pool.query("SELECT execution_id FROM durable_executions WHERE name = 'dated'").column(UUID.self)[0]
        let resumed = try await harness.pool.transaction { connection in
            try await harness.engine.invoke(executionId: id, on: connection, now: t0 + 5)
            return try await connection.query(updatesInTransaction).column(Int.self)
        }
        #expect(resumed == [0])
        #expect(try await harness.pool.query("SELECT updated_at FROM durable_executions WHERE name = 'dated'").column(Date.self) == [t0])
        #expect(try await harness.history("dated").last?.timestamp == t0 + 5)
    }

    /// Checkpoints written a row at a time (before pages) are moved into pages by the migration, and an execution that
    /// suspended before it resumes from them: nothing it did runs again, and its callback is the one it created.
    @Test func checkpointsWrittenBeforePagesAreReplayedAfterTheMigration() async throws {
        let logger = TestEnvironment.logger("durable")
        let pool = try await TestDatabase.create("durable").pool(maxConnections: 6)
        let before = Array(DurableSchema.migrations.prefix { $0.version < 12 })
        try await PostgresMigrator.migrate(pool, component: DurableSchema.component, migrations: before, logger: logger)
        let (executionId, callbackId) = (UUID(), UUID())
        try await pool.query(
            """
            INSERT INTO durable_executions (execution_id, workflow, name, status, input, created_at, updated_at)
            VALUES (\(executionId), 'test.callback', 'old', 'RUNNING', '{"timeoutSeconds":60}', \(t0), \(t0))
            """)
        try await pool.query(
            """
            INSERT INTO durable_callbacks (callback_id, execution_id, name, status, timeout_at, started_at)
            VALUES (\(callbackId), \(executionId), 'approval', 'STARTED', \(t0 + 60), \(t0))
            """)
        // Written in two invocations (the step a second later), each row keeping its date.
        try await pool.query(
            """
            INSERT INTO durable_operations (execution_id, position, kind, name, status, result, updated_at)
            VALUES (\(executionId), 2, 'STEP', 'after-create', 'SUCCEEDED', '1', \(t0 + 1)),
                   (\(executionId), 1, 'CALLBACK', 'approval', 'SUCCEEDED', \("\"\(callbackId.uuidString)\""), \(t0))
            """)
        try await PostgresMigrator.migrate(pool, component: DurableSchema.component, migrations: DurableSchema.migrations, logger: logger)
        #expect(try await pool.query("SELECT count(*) FROM durable_operation_pages").column(Int.self) == [2])
        let moved = try await pool.query("SELECT position, kind, updated_at FROM durable_operations ORDER BY position")
            .decode((Int, String, Date).self)
        #expect(moved.map(\.0) == [1, 2])
        #expect(moved.map(\.1) == ["CALLBACK", "STEP"])
        #expect(moved.map(\.2) == [t0, t0 + 1])

        let counter = RunCounter()
        let harness = EngineHarness(
            pool: pool, engine: DurableEngine(workflows: [CallbackWorkflow(counter: counter)], logger: logger), counter: counter)
        #expect(try await harness.send(.success(#""done""#), to: callbackId, at: t0 + 1) == .accepted)
        #expect(counter.count("old/after-create") == 0)
        let execution = try await harness.execution("old")
        #expect(execution.status == "SUCCEEDED")
        #expect(execution.output == #""done""#)
        #expect(try await pool.query("SELECT count(*) FROM durable_callbacks").column(Int.self) == [1])
    }

    /// History written a row per event (before pages) is read with the pages, in the order written, numbered from 1;
    /// details that are not JSON (a signal that could not be read) read back as written, without failing the read.
    @Test func rowsWrittenOneEventAtATimeAreReadWithThePagesInOrder() async throws {
        let harness = try await EngineHarness.make([ForgetfulWorkflow()])
        try await harness.pool.transaction {
            try await harness.engine.start(ForgetfulWorkflow(), name: "mixed", input: "x", on: $0, now: t0)
        }
        let paged = try await harness.history("mixed").map(\.type)
        #expect(paged.count >= 3)
        let id = try #require(
            try await harness.pool.query("SELECT execution_id FROM durable_executions WHERE name = 'mixed'").column(UUID.self).first)
        // One written before the pages (a lower id of the same sequence), one by an engine of before pages that still
        // runs during an upgrade (the sequence's next).
        try await harness.pool.query(
            """
            INSERT INTO durable_history (id, execution_id, event_type, details, at)
            VALUES (0, \(id), 'Earlier', '{"Old": true}', \(t0 - 1))
            """)
        try await harness.pool.query(
            """
            INSERT INTO durable_history (execution_id, event_type, details, at)
            VALUES (\(id), 'Later', 'not json', \(t0 + 1))
            """)
        let history = try await harness.history("mixed")
        #expect(history.map(\.type) == ["Earlier"] + paged + ["Later"])
        #expect(history.map(\.id) == Array(1...Int64(paged.count + 2)))
        #expect(history.first?.details == ["Old": .bool(true)])
        #expect(history.last?.details == [:])
        #expect(history.map(\.timestamp) == [t0 - 1] + paged.map { _ in t0 } + [t0 + 1])
        let counted = try await harness.pool.query(
            "SELECT count(*) FROM durable_history_events WHERE execution_id = \(id) AND event_type IN ('Earlier', 'Later')"
        ).column(Int.self)
        #expect(counted == [2])
    }

    /// A batch's events are recorded in the inbox in one statement; what was recorded before, and a second copy in the
    /// batch, are not recorded now.
    @Test func aBatchOfInboxRowsIsOneStatement() async throws {
        let harness = try await EngineHarness.make()
        let (a, b, c) = (UUID(), UUID(), UUID())
        #expect(try await harness.pool.withConnection { try await harness.engine.recordInbox(eventId: a, topic: "t", on: $0) })
        let (fresh, sent) = try await harness.pool.withConnection { connection in
            let before = connection.statementsSent
            let fresh = try await harness.engine.recordInbox([(a, "t"), (b, "t"), (c, "u"), (b, "t")], on: connection)
            return (fresh, connection.statementsSent - before)
        }
        #expect(fresh == [b, c])
        #expect(sent == 1)
        #expect(try await harness.pool.query("SELECT count(*) FROM durable_inbox").column(Int.self) == [3])
    }

    @Test func timeRandomnessRetriedStepsAndEmittedEventsAreStableAcrossReplays() async throws {
        let counter = RunCounter()
        let harness = try await EngineHarness.make([RecordingWorkflow(counter: counter)])
        try await harness.pool.query("CREATE TABLE flaky_writes (name text)")
        try await harness.pool.transaction {
            try await harness.engine.start(RecordingWorkflow(counter: counter), name: "rec", input: "x", on: $0, now: t0)
        }
        let id = try await harness.callbackId("rec")
        _ = try await harness.send(.success("\"yes\""), to: id, at: t0 + 5)

        let output = try GreenlightJSON.decode(
            RecordingWorkflow.Output.self, from: Data(try await harness.execution("rec").output!.utf8))
        #expect(output.attempts == 3)
        #expect(output.decided == "yes")
        #expect(counter.count("rec/flaky") == 3)
        #expect(counter.count("rec/flaky committed") == 1)
        #expect(try await harness.pool.query("SELECT count(*) FROM flaky_writes").column(Int.self) == [1])
        #expect(try await harness.pool.query("SELECT count(*) FROM durable_outbox WHERE topic = 'test.events'").column(Int.self) == [1])
        let types = try await harness.history("rec").map(\.type)
        #expect(types.filter { $0 == "StepFailed" }.count == 2)
        #expect(types.filter { $0 == "StepSucceeded" }.count == 1)
        let recordedNow = try await harness.pool.query(
            "SELECT result FROM durable_operations WHERE kind = 'NOW'").column(String.self)
        #expect(recordedNow.count == 1)
        #expect(try GreenlightJSON.decode(Date.self, from: Data(recordedNow[0].utf8)) == output.now)
    }

    @Test func changedWorkflowCodeIsCaughtAsNonDeterministic() async throws {
        let harness = try await EngineHarness.make([ShiftyWorkflow()])
        ShiftyWorkflow.flip.withLock { $0 = false }
        try await harness.pool.transaction {
            try await harness.engine.start(ShiftyWorkflow(), name: "shifty", input: "x", on: $0, now: t0)
        }
        ShiftyWorkflow.flip.withLock { $0 = true }
        let id = try await harness.callbackId("shifty")
        _ = try await harness.send(.success("\"done\""), to: id, at: t0 + 1)
        let execution = try await harness.execution("shifty")
        #expect(execution.status == "FAILED")
        #expect(execution.errorType == "Workflow.NonDeterministic")
    }

    /// Two schedulers (as two orchestrator instances would) on one database with 1,000 timers due at once:
    /// every timer fires exactly once.
    @Test func twoSchedulersFireEachOfAThousandTimersExactlyOnce() async throws {
        let harness = try await EngineHarness.make()
        try await harness.pool.transaction { connection in
            for index in 0..<1000 {
                try await harness.engine.start(
                    CallbackWorkflow(counter: harness.runs), name: "t\(index)", input: .init(timeoutSeconds: 30),
                    on: connection, now: t0)
            }
        }
        let logger = TestEnvironment.logger("schedulers")
        let pools = try (0..<2).map { _ in
            PostgresPool(configuration: harness.pool.configuration, maxConnections: 2, logger: logger)
        }
        let engines = (0..<2).map { _ in DurableEngine(workflows: [CallbackWorkflow(counter: harness.runs)], logger: logger) }
        let fired = try await withThrowingTaskGroup(of: Int.self) { group in
            for (pool, engine) in zip(pools, engines) {
                group.addTask {
                    var total = 0
                    while true {
                        let batch = try await pool.transaction { try await engine.fireDueTimers(limit: 50, on: $0, now: t0 + 31) }
                        total += batch.count
                        if batch.count == 0 { return total }
                    }
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(fired.reduce(0, +) == 1000)
        #expect(fired.allSatisfy { $0 > 0 }, "both schedulers took part: \(fired)")
        let timedOut = try await harness.pool.query(
            "SELECT count(*) FROM durable_history_events WHERE event_type = 'CallbackTimedOut'").column(Int.self)
        #expect(timedOut == [1000])
        let failed = try await harness.pool.query(
            "SELECT count(*) FROM durable_executions WHERE status = 'FAILED' AND error_type = 'Callback.Timeout'").column(Int.self)
        #expect(failed == [1000])
        pools.forEach { $0.close() }
    }

    /// A batch of timers writes the history and checkpoints of all of its invocations in one statement of each kind,
    /// not one of each per timer; each execution's page still holds its own events, in order.
    @Test func aBatchOfTimersWritesItsHistoryAndCheckpointsInOneStatementEach() async throws {
        let harness = try await EngineHarness.make()
        let executions = 10
        for index in 0..<executions { try await harness.start("batch-\(index)", .init(timeoutSeconds: 30), at: t0 + Double(index)) }
        func fire(limit: Int, at now: Date) async throws -> (fired: Int, statements: Int) {
            try await harness.pool.withConnection { connection in
                try await connection.execute(script: "BEGIN")
                let before = connection.statementsSent
                let fired = try await harness.engine.fireDueTimers(limit: limit, on: connection, now: now, writesTogether: true)
                try await connection.execute(script: "COMMIT")
                return (fired.count, connection.statementsSent - before)
            }
        }
        // The earliest alone, then the nine others in one batch.
        let one = try await fire(limit: 1, at: t0 + 30.5)
        let nine = try await fire(limit: 20, at: t0 + 60)
        #expect(one.fired == 1 && nine.fired == 9)
        // A timer alone: its claim, savepoint, reads, writes and commit. Each of the nine others adds its savepoint,
        // reads and updates, but not a history page's statement of its own (the batch's are one), nor a mark.
        #expect(nine.statements - one.statements <= 8 * (one.statements - 3), "one timer: \(one.statements); nine: \(nine.statements)")
        for index in 0..<executions {
            let history = try await harness.history("batch-\(index)")
            #expect(history.suffix(3).map(\.type) == ["CallbackTimedOut", "InvocationCompleted", "ExecutionFailed"], "batch-\(index): \(history.map(\.type))")
            #expect(try await harness.execution("batch-\(index)").errorType == "Callback.Timeout")
        }
    }

    /// Engine calls inside `writingTogether` (a batch of events) write their history, checkpoints and messages once
    /// for all of them: the same rows as when each call writes its own, with fewer statements. Here four executions
    /// start, and one of them is resumed and ends in the same batch.
    @Test func callsWritingTogetherWriteWhatEachWouldWithFewerStatements() async throws {
        let counter = RunCounter()
        let workflow = ManyStepsWorkflow(counter: counter)
        let harness = try await EngineHarness.make([workflow])
        func batch(_ prefix: String, together: Bool) async throws -> Int {
            try await harness.pool.withConnection { connection in
                try await connection.execute(script: "BEGIN")
                let before = connection.statementsSent
                let calls = {
                    for index in 0..<4 {
                        try await harness.engine.start(workflow, name: "\(prefix)-\(index)", input: 3, on: connection, now: self.t0)
                    }
                    let callback = try #require(try await harness.engine.callbacks(ofExecution: "\(prefix)-0", on: connection).first)
                    _ = try await harness.engine.send(.success("\"go\""), toCallback: callback.callbackId, on: connection, now: self.t0)
                }
                if together { try await harness.engine.writingTogether(on: connection, calls) } else { try await calls() }
                try await connection.execute(script: "COMMIT")
                return connection.statementsSent - before
            }
        }
        let apart = try await batch("apart", together: false)
        let together = try await batch("together", together: true)
        // Each event's details, with the execution's name and the callback's id (which differ) left out.
        struct Event: Equatable {
            var type: String
            var details: [String: JSONValue]
        }
        func events(_ name: String) async throws -> [Event] {
            try await harness.history(name).map { event in
                Event(type: event.type, details: event.details.filter { $0.key != "CallbackId" && $0.value != .string(name) })
            }
        }
        for index in 0..<4 {
            let expected = try await events("apart-\(index)")
            #expect(expected.count >= 13)
            let written = try await events("together-\(index)")
            #expect(written == expected, "together-\(index)")
        }
        #expect(try await harness.execution("together-0").status == "SUCCEEDED")
        let messages = try await harness.pool.query(
            "SELECT message_key, payload FROM durable_outbox WHERE topic = 'test.steps' ORDER BY id").decode((String, String).self)
        #expect(messages.filter { $0.0.hasPrefix("together") }.map { $0.0.dropFirst(8) + $0.1 } == messages.filter { $0.0.hasPrefix("apart") }.map { $0.0.dropFirst(5) + $0.1 })
        let checkpoints = try await harness.pool.query(
            """
            SELECT e.name, o.position, o.status FROM durable_operations o JOIN durable_executions e USING (execution_id)
            ORDER BY e.name, o.position
            """
        ).decode((String, Int, String).self)
        #expect(checkpoints.filter { $0.0.hasPrefix("together") }.map { "\($0.0.dropFirst(8))/\($0.1)/\($0.2)" }
            == checkpoints.filter { $0.0.hasPrefix("apart") }.map { "\($0.0.dropFirst(5))/\($0.1)/\($0.2)" })
        // Five invocations: a history page, a checkpoint page and a message statement each, apart; one each, together.
        #expect(together <= apart - 8, "apart: \(apart) statements; together: \(together)")
    }

    /// A batch whose invocations' writes, sent together, fail — one timer's invocation checkpointed an error Postgres
    /// cannot hold — is fired again with each timer's writes in its own savepoint: the others fire, and only that
    /// timer is set aside.
    @Test func aTimerWhoseWritesFailIsSetAsideWhileTheOthersInItsBatchFire() async throws {
        let harness = try await EngineHarness.make([UnwritableErrorWorkflow()])
        try await harness.pool.transaction {
            try await harness.engine.start(UnwritableErrorWorkflow(), name: "unwritable", input: "x", on: $0, now: t0)
        }
        for index in 0..<2 { try await harness.start("fine-\(index)", .init(timeoutSeconds: 30), at: t0) }
        let fired = try await harness.engine.fireDueTimers(limit: 10, in: harness.pool, now: t0 + 31)
        #expect(fired.count == 2)
        #expect(fired.failed.map(\.name) == ["unwritable"])
        for index in 0..<2 { #expect(try await harness.execution("fine-\(index)").errorType == "Callback.Timeout") }
        #expect(try await harness.execution("unwritable").status == "RUNNING")
        let pending = try await harness.pool.query(
            """
            SELECT t.attempts FROM durable_timers t JOIN durable_executions e ON e.execution_id = t.execution_id
            WHERE e.name = 'unwritable' AND t.fired_at IS NULL
            """
        ).column(Int.self)
        #expect(pending == [1])
    }

    /// A timer whose execution another transaction holds (a decision being applied, say) is passed over by the claim
    /// rather than claimed and dropped: it takes no place in the batch, so a batch of two fires the two others due, and
    /// the passed-over one fires in a later batch once its execution is free.
    @Test func aTimerWhoseExecutionIsBusyTakesNoPlaceInTheBatch() async throws {
        let harness = try await EngineHarness.make()
        for index in 0..<3 { try await harness.start("busy-\(index)", .init(timeoutSeconds: 30), at: t0 + Double(index)) }
        let holding = AsyncStream<Void>.makeStream()
        let release = AsyncStream<Void>.makeStream()
        let holder = Task {
            defer { holding.continuation.finish() }
            try await harness.pool.transaction { connection in
                // The earliest timer's execution, held as a transaction applying a decision to it would.
                _ = try await connection.query("SELECT 1 FROM durable_executions WHERE name = 'busy-0' FOR UPDATE")
                holding.continuation.yield()
                for await _ in release.stream { break }
            }
        }
        for await _ in holding.stream { break }
        let fired: Result<DurableEngine.FiredTimers, any Error>
        do {
            fired = .success(
                try await harness.pool.transaction { try await harness.engine.fireDueTimers(limit: 2, on: $0, now: t0 + 40) })
        } catch {
            fired = .failure(error)
        }
        // The holder lets go whatever the batch did, so that a failure is reported rather than waited on.
        release.continuation.finish()
        try await holder.value
        let batch = try fired.get()
        #expect(batch.count == 2)
        #expect(batch.finished.map(\.name).sorted() == ["busy-1", "busy-2"])
        let later = try await harness.pool.transaction { try await harness.engine.fireDueTimers(limit: 2, on: $0, now: t0 + 41) }
        #expect(later.finished.map(\.name) == ["busy-0"])
    }

    /// Two timers of one execution due together: a batch fires the first on the execution as its claim read it, and
    /// leaves the second to the next batch, which reads the execution again. Here the first (the callback's timeout)
    /// ended the execution and retired the second (its heartbeat timer), so the next batch finds nothing to fire.
    @Test func anExecutionsSecondTimerInABatchIsLeftToTheNextOne() async throws {
        let harness = try await EngineHarness.make()
        try await harness.start("twice", .init(timeoutSeconds: 30, heartbeatSeconds: 31), at: t0)
        let first = try await harness.pool.transaction { try await harness.engine.fireDueTimers(limit: 10, on: $0, now: t0 + 40) }
        #expect(first.claimed == 2)
        #expect(first.count == 1)
        #expect(first.finished.map(\.name) == ["twice"])
        let second = try await harness.pool.transaction { try await harness.engine.fireDueTimers(limit: 10, on: $0, now: t0 + 41) }
        #expect(second.count == 0)
        let ended = try await harness.pool.query(
            "SELECT count(*) FROM durable_history_events WHERE event_type IN ('ExecutionFailed', 'ExecutionSucceeded')"
        ).column(Int.self)
        #expect(ended == [1])
        let pending = try await harness.pool.query("SELECT count(*) FROM durable_timers WHERE fired_at IS NULL").column(Int.self)
        #expect(pending == [0])
    }

    @Test func aTimerWhoseWorkflowCannotRunIsSetAsideAndTriedAgainWhileTheOthersStillFire() async throws {
        let counter = RunCounter()
        let harness = try await EngineHarness.make([RecordingWorkflow(counter: counter)])
        try await harness.pool.query("CREATE TABLE flaky_writes (name text)")
        try await harness.pool.transaction {
            try await harness.engine.start(RecordingWorkflow(counter: counter), name: "unknown-later", input: "x", on: $0, now: t0)
        }
        try await harness.start("known", .init(timeoutSeconds: 30), at: t0)
        // A build that no longer knows RecordingWorkflow fires both timers.
        let older = DurableEngine(workflows: [CallbackWorkflow(counter: harness.runs)], logger: TestEnvironment.logger("older"))
        let fired = try await harness.pool.transaction { try await older.fireDueTimers(limit: 10, on: $0, now: t0 + 61) }
        #expect(fired.count == 1)
        #expect(fired.failed.map(\.name) == ["unknown-later"])
        #expect(try await harness.execution("known").status == "FAILED")
        #expect(try await harness.execution("known").errorType == "Callback.Timeout")
        #expect(try await harness.execution("unknown-later").status == "RUNNING")

        // Not consumed: still pending, due again after a back-off, with its attempts and why.
        func pendingTimer() async throws -> (dueAt: Date, attempts: Int, error: String?)? {
            try await harness.pool.query(
                """
                SELECT t.due_at, t.attempts, t.last_error FROM durable_timers t
                JOIN durable_executions e ON e.execution_id = t.execution_id
                WHERE e.name = 'unknown-later' AND t.fired_at IS NULL
                """
            ).decode((Date, Int, String?).self).first.map { ($0.0, $0.1, $0.2) }
        }
        let pending = try #require(try await pendingTimer())
        #expect(pending.attempts == 1)
        // One second, less up to half of it at random (jitter).
        #expect(pending.dueAt >= t0 + 61.5 && pending.dueAt <= t0 + 62, "\(pending.dueAt)")
        #expect(pending.error?.contains("Workflow.Unknown") == true)
        // Failing again doubles the wait.
        let again = try await harness.pool.transaction { try await older.fireDueTimers(limit: 10, on: $0, now: t0 + 62) }
        #expect(again.failed.count == 1)
        #expect(try await pendingTimer()?.attempts == 2)
        let second = try #require(try await pendingTimer()?.dueAt)
        #expect(second >= t0 + 63 && second <= t0 + 64, "\(second)")

        // A build that knows the workflow fires it.
        let current = try await harness.pool.transaction { try await harness.engine.fireDueTimers(limit: 10, on: $0, now: t0 + 65) }
        #expect(current.count == 1)
        #expect(current.failed.isEmpty)
        #expect(try await pendingTimer() == nil)
        #expect(try await harness.execution("unknown-later").errorType == "Callback.Timeout")
    }

    /// Without a `now` of their own, the engine's deadlines and timers follow the database's clock: the host's
    /// does not matter.
    @Test func deadlinesAndTimersFollowTheDatabaseClock() async throws {
        let harness = try await EngineHarness.make()
        let startedAt = try await harness.pool.transaction { connection -> Date in
            try await harness.engine.start(
                CallbackWorkflow(counter: harness.runs), name: "db-clock", input: .init(timeoutSeconds: 3600), on: connection)
            return try await connection.databaseTime()
        }
        let callback = try #require(try await DurableReader(pool: harness.pool).callbacks(ofExecution: "db-clock").first)
        // The transaction's now(), to the millisecond (what workflows record times with).
        let milliseconds = (startedAt.timeIntervalSince1970 * 1000).rounded(.down) / 1000
        #expect(callback.startedAt.timeIntervalSince1970 == milliseconds)
        #expect(callback.timeoutAt.timeIntervalSince1970 == milliseconds + 3600)
        // Moving the timer's due time to the database's "now" makes it fire on the next round; nothing else does.
        #expect(try await harness.pool.transaction { try await harness.engine.fireDueTimers(limit: 10, on: $0) }.count == 0)
        try await harness.pool.query("UPDATE durable_timers SET due_at = now() - interval '1 second'")
        let fired = try await harness.pool.transaction { try await harness.engine.fireDueTimers(limit: 10, on: $0) }
        #expect(fired.count == 1)
        // At least the second it was moved back by (to the millisecond the engine keeps times with), not hours.
        #expect(fired.lateness.allSatisfy { $0 >= 0.999 && $0 < 30 }, "\(fired.lateness)")
    }

    @Test func callbacksNobodyAwaitedEndWithTheirExecution() async throws {
        let harness = try await EngineHarness.make([ForgetfulWorkflow()])
        try await harness.pool.transaction {
            try await harness.engine.start(ForgetfulWorkflow(), name: "forgetful", input: "x", on: $0, now: t0)
        }
        #expect(try await harness.execution("forgetful").status == "SUCCEEDED")
        let callbacks = try await DurableReader(pool: harness.pool).callbacks(ofExecution: "forgetful")
        #expect(callbacks.map(\.status) == [.failed])
        #expect(callbacks.first?.error?.errorType == "Execution.Ended")
        #expect(try await harness.fire(at: t0 + 120).count == 0)
    }
}
