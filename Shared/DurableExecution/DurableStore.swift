import Foundation
import GreenlightModels
import Postgres
import Synchronization

/// The engine's SQL, on the connection of the transaction that handles one event, command or timer.
struct DurableStore: Sendable {
    let connection: PostgresConnection
    /// Whether `flushWrites()` leaves what is buffered for `flushDeferredWrites()`: an engine call that runs many
    /// invocations (a batch of timers), or several engine calls in `DurableEngine.writingTogether` (a batch of
    /// events), then write all of their history, checkpoints and messages together, one statement of each kind,
    /// instead of one of each per invocation.
    let defersWrites: Bool
    /// History events, checkpoints and outbox messages written since the last `flushWrites()`: the buffer of the
    /// `writingTogether` this store is made in, on the same connection, or one of its own.
    let pending: PendingWrites

    init(connection: PostgresConnection, defersWrites: Bool = false) {
        self.connection = connection
        if let shared = SharedWrites.current, shared.connection === connection {
            pending = shared.pending
            self.defersWrites = true
        } else {
            pending = PendingWrites()
            self.defersWrites = defersWrites
        }
    }

    // MARK: - Executions

    /// A transaction-scoped advisory lock on an execution name.
    func queueNameLock(_ name: String) {
        connection.queue("SELECT pg_advisory_xact_lock(hashtext(\(name)))")
    }

    /// Queues the name locks of all of `names`, taken one after the other in the names' order (each once).
    func queueNameLocks(_ names: [String]) {
        connection.queue(
            """
            SELECT pg_advisory_xact_lock(hashtext(n))
            FROM (SELECT DISTINCT n FROM unnest(\(PostgresArray(names))::text[]) AS names (n) ORDER BY n OFFSET 0) AS sorted
            """)
    }

    /// Inserts a running execution dated `at`, or the database's `now()` when nil; returns that time, or nil when
    /// an execution of that name exists.
    func insertExecution(
        id: UUID, workflow: String, name: String, input: String, trace: TraceContext?, at: Date?
    ) async throws -> Date? {
        try await connection.query(
            """
            INSERT INTO durable_executions
                (execution_id, workflow, name, status, input, trace_parent, created_at, updated_at)
            VALUES (\(id), \(workflow), \(name), 'RUNNING', \(input), \(trace?.traceparent),
                    coalesce(\(at)::timestamptz, now()), coalesce(\(at)::timestamptz, now()))
            ON CONFLICT (name) DO NOTHING
            RETURNING created_at
            """
        ).column(Date.self).first?.wholeMilliseconds
    }

    /// Locks the execution until the transaction ends. The record carries the transaction's `now()`.
    func lockExecution(id: UUID) async throws -> ExecutionRecord? {
        try await connection.query(
            """
            SELECT execution_id, workflow, name, status, input, trace_parent, now() FROM durable_executions
            WHERE execution_id = \(id) FOR UPDATE
            """
        ).first.map(Self.execution(from:))
    }

    /// Locks the execution named `name` until the transaction ends and returns it, with the transaction's
    /// `now()`; nil when there is none.
    func lockExecution(named name: String) async throws -> ExecutionRecord? {
        try await connection.query(
            """
            SELECT execution_id, workflow, name, status, input, trace_parent, now() FROM durable_executions
            WHERE name = \(name) FOR UPDATE
            """
        ).first.map(Self.execution(from:))
    }

    static func execution(from row: PostgresRow) throws -> ExecutionRecord {
        let (id, workflow, name, status, input, trace, clock) = try row.decode(
            (UUID, String, String, String, String, String?, Date).self)
        return ExecutionRecord(
            executionId: id, workflow: workflow, name: name, status: ExecutionStatus(rawValue: status) ?? .running,
            input: input, trace: trace.flatMap(TraceContext.init(traceparent:)), clock: clock.wholeMilliseconds)
    }

    /// An execution's checkpoints, callbacks and kept signals, read in one round trip. Checkpoints buffered so far
    /// are written first; history and messages, which it does not read, stay buffered, so that a signal's
    /// `SignalReceived` (or a callback's end) and the invocation it starts are one history page.
    func state(of execution: ExecutionRecord) async throws -> ExecutionState {
        try await state(of: execution, after: []).state
    }

    /// Sends `first`, then reads the execution's state, in one round trip; returns `first`'s answers and the state.
    private func state(of execution: ExecutionRecord, after first: [PostgresQuery]) async throws
        -> (answers: ArraySlice<PostgresRows>, state: ExecutionState)
    {
        flushOperations(of: execution.executionId)
        let id = execution.executionId
        let results = try await connection.query(first + [operationsQuery(id), callbacksQuery(id), signalsQuery(execution.name)])
        let read = Array(results.suffix(3))
        let state = ExecutionState(
            operations: try Self.operations(from: read[0]), callbacks: try Self.callbacks(from: read[1]),
            signals: try Self.signals(from: read[2]))
        return (results.prefix(first.count), state)
    }

    func executionId(named name: String) async throws -> UUID? {
        try await connection.query("SELECT execution_id FROM durable_executions WHERE name = \(name)").column(UUID.self).first
    }

    func queueFinish(id: UUID, status: ExecutionStatus, output: String?, error: DurableError?, at: Date) {
        connection.queue(
            """
            UPDATE durable_executions SET status = \(status.rawValue), output = \(output), error_type = \(error?.errorType),
                error_message = \(error?.errorMessage), updated_at = \(at), ended_at = \(at)
            WHERE execution_id = \(id)
            """)
    }

    // MARK: - Operations

    /// The execution's checkpoints, each with its page (a page holds a position once). Unordered: `operations(from:)`
    /// keeps the latest page's.
    func operationsQuery(_ id: UUID) -> PostgresQuery {
        """
        SELECT p.id, o.position, o.kind, o.name, o.status, o.result, o.error_type, o.error_message
        FROM durable_operation_pages p
        CROSS JOIN LATERAL unnest(p.positions, p.kinds, p.names, p.statuses, p.results, p.error_types, p.error_messages)
            AS o (position, kind, name, status, result, error_type, error_message)
        WHERE p.execution_id = \(id)
        """
    }

    /// The checkpoints by position: where several pages hold a position, the latest one's.
    static func operations(from rows: PostgresRows) throws -> [Int: OperationRecord] {
        var records: [Int: OperationRecord] = [:]
        var pages: [Int: Int64] = [:]
        for row in rows {
            let (page, position, kind, name, status, result, errorType, errorMessage) = try row.decode(
                (Int64, Int, String, String, String, String?, String?, String?).self)
            if let seen = pages[position], seen > page { continue }
            pages[position] = page
            records[position] = OperationRecord(
                position: position, kind: kind, name: name, status: OperationStatus(rawValue: status) ?? .started,
                result: result,
                error: errorType.map { DurableError(errorType: $0, errorMessage: errorMessage ?? "") })
        }
        return records
    }

    /// Saves a checkpoint with the next `flushWrites()`; a later save of the same position replaces it.
    func queueOperation(_ record: OperationRecord, executionId: UUID, at: Date) {
        pending.add(operation: record, executionId: executionId, at: at)
    }

    // MARK: - Callbacks

    static let callbackColumns = """
        callback_id, execution_id, name, status, timeout_at, heartbeat_seconds, heartbeat_due_at, result, error_type,
        error_message, started_at, ended_at
        """

    func callbacks(of id: UUID) async throws -> [UUID: CallbackRecord] {
        try Self.callbacks(from: try await connection.query(callbacksQuery(id)))
    }

    func callbacksQuery(_ id: UUID) -> PostgresQuery {
        "SELECT callback_id, execution_id, name, status, timeout_at, heartbeat_seconds, heartbeat_due_at, result, error_type, error_message, started_at, ended_at FROM durable_callbacks WHERE execution_id = \(id)"
    }

    static func callbacks(from rows: PostgresRows) throws -> [UUID: CallbackRecord] {
        Dictionary(uniqueKeysWithValues: try rows.map { try Self.callback(from: $0) }.map { ($0.callbackId, $0) })
    }

    func callback(id: UUID) async throws -> CallbackRecord? {
        try await connection.query(
            "SELECT callback_id, execution_id, name, status, timeout_at, heartbeat_seconds, heartbeat_due_at, result, error_type, error_message, started_at, ended_at FROM durable_callbacks WHERE callback_id = \(id)"
        ).first.map(Self.callback(from:))
    }

    static func callback(from row: PostgresRow) throws -> CallbackRecord {
        let (id, executionId, name, status, timeoutAt, heartbeatSeconds, heartbeatDueAt, result, errorType, errorMessage,
            startedAt, endedAt) = try row.decode(
                (UUID, UUID, String, String, Date, Int?, Date?, String?, String?, String?, Date, Date?).self)
        return CallbackRecord(
            callbackId: id, executionId: executionId, name: name, status: CallbackStatus(rawValue: status) ?? .started,
            timeoutAt: timeoutAt, heartbeatSeconds: heartbeatSeconds, heartbeatDueAt: heartbeatDueAt, result: result,
            error: errorType.map { DurableError(errorType: $0, errorMessage: errorMessage ?? "") }, startedAt: startedAt,
            endedAt: endedAt)
    }

    func queueCallback(_ record: CallbackRecord) {
        connection.queue(
            """
            INSERT INTO durable_callbacks
                (callback_id, execution_id, name, status, timeout_at, heartbeat_seconds, heartbeat_due_at, started_at)
            VALUES (\(record.callbackId), \(record.executionId), \(record.name), 'STARTED', \(record.timeoutAt),
                    \(record.heartbeatSeconds), \(record.heartbeatDueAt), \(record.startedAt))
            """)
    }

    /// Ends a started callback; false when it had already ended.
    func endCallback(id: UUID, status: CallbackStatus, result: String?, error: DurableError?, at: Date) async throws -> Bool {
        try await connection.query(Self.endCallbackQuery(id: id, status: status, result: result, error: error, at: at))
            .affectedRows == 1
    }

    /// Ends a callback as `endCallback` does and reads its execution's state after that, in one round trip; nil when the
    /// callback had ended already.
    func endCallback(
        id: UUID, status: CallbackStatus, error: DurableError, at: Date, thenStateOf execution: ExecutionRecord
    ) async throws -> ExecutionState? {
        let (answers, state) = try await state(
            of: execution, after: [Self.endCallbackQuery(id: id, status: status, result: nil, error: error, at: at)])
        return answers.first?.affectedRows == 1 ? state : nil
    }

    private static func endCallbackQuery(id: UUID, status: CallbackStatus, result: String?, error: DurableError?, at: Date)
        -> PostgresQuery
    {
        """
        UPDATE durable_callbacks SET status = \(status.rawValue), result = \(result), error_type = \(error?.errorType),
            error_message = \(error?.errorMessage), ended_at = \(at)
        WHERE callback_id = \(id) AND status = 'STARTED'
        """
    }

    func queueHeartbeatExtension(callbackId: UUID, dueAt: Date) {
        connection.queue(
            "UPDATE durable_callbacks SET heartbeat_due_at = \(dueAt) WHERE callback_id = \(callbackId)")
        connection.queue(
            """
            UPDATE durable_timers SET due_at = \(dueAt)
            WHERE callback_id = \(callbackId) AND kind = 'CALLBACK_HEARTBEAT' AND fired_at IS NULL
            """)
    }

    // MARK: - Signals

    /// Keeps a signal for the execution named `executionName` until it receives it.
    func bufferSignal(executionName: String, payload: String, at: Date?) async throws {
        _ = try await connection.query(
            """
            INSERT INTO durable_signals (execution_name, payload, received_at)
            VALUES (\(executionName), \(payload), coalesce(\(at)::timestamptz, now()))
            """)
    }

    func signalsQuery(_ executionName: String) -> PostgresQuery {
        "SELECT id, payload FROM durable_signals WHERE execution_name = \(executionName) ORDER BY id"
    }

    static func signals(from rows: PostgresRows) throws -> [PendingSignal] {
        var signals: [PendingSignal] = []
        for row in rows {
            let (id, payload) = try row.decode((Int64, String).self)
            signals.append(PendingSignal(id: id, payload: payload))
        }
        return signals
    }

    /// The signals kept for the execution named `executionName`, oldest first.
    func signals(named executionName: String) async throws -> [PendingSignal] {
        try Self.signals(from: try await connection.query(signalsQuery(executionName)))
    }

    func deleteSignal(id: Int64) async throws {
        _ = try await connection.query("DELETE FROM durable_signals WHERE id = \(id)")
    }

    // MARK: - Timers

    func queueTimer(_ timer: TimerRecord) {
        connection.queue(
            """
            INSERT INTO durable_timers (timer_id, execution_id, kind, callback_id, position, due_at)
            VALUES (\(timer.timerId), \(timer.executionId), \(timer.kind.rawValue), \(timer.callbackId), \(timer.position), \(timer.dueAt))
            """)
    }

    /// Cancels pending timers. Timers a scheduler has claimed right now are skipped rather than waited for (no
    /// lock-order deadlock with it): when it gets to them, it finds their callback or execution ended and does
    /// nothing.
    func queueTimerCancellation(callbackId: UUID, at: Date) {
        connection.queue(Self.cancelTimersQuery(callbackId: callbackId, at: at))
    }

    static func cancelTimersQuery(callbackId: UUID, at: Date) -> PostgresQuery {
        """
        UPDATE durable_timers SET fired_at = \(at) WHERE timer_id IN (
            SELECT timer_id FROM durable_timers WHERE callback_id = \(callbackId) AND fired_at IS NULL
            FOR UPDATE SKIP LOCKED)
        """
    }

    /// Retires the timer of the wait at `position` (its wait ended another way).
    func queueWaitTimerCancellation(executionId: UUID, position: Int, at: Date) {
        connection.queue(
            """
            UPDATE durable_timers SET fired_at = \(at)
            WHERE execution_id = \(executionId) AND position = \(position) AND fired_at IS NULL
            """)
    }

    func queueTimerCancellation(executionId: UUID, at: Date) {
        connection.queue(Self.cancelTimersQuery(executionId: executionId, at: at))
    }

    static func cancelTimersQuery(executionId: UUID, at: Date) -> PostgresQuery {
        """
        UPDATE durable_timers SET fired_at = \(at) WHERE timer_id IN (
            SELECT timer_id FROM durable_timers WHERE execution_id = \(executionId) AND fired_at IS NULL
            FOR UPDATE SKIP LOCKED)
        """
    }

    /// Claims timers due by `now` (the database's `now()` when nil) and locks their executions, in one statement:
    /// `SKIP LOCKED` keeps two schedulers from claiming the same timer, and passes over a timer whose execution another
    /// transaction holds (a decision being applied, say), which is claimed by a later batch instead of taking a place in
    /// this one. Returns each timer with its execution as it stood when locked, and the time they were judged by.
    func claimDueTimers(now: Date?, limit: Int) async throws -> ([(TimerRecord, ExecutionRecord)], Date) {
        // The execution's columns first, as `lockExecution` reads them (the claim's clock in place of `now()`), so
        // that `execution(from:)` decodes them.
        let rows = try await connection.query(
            """
            SELECT e.execution_id, e.workflow, e.name, e.status, e.input, e.trace_parent,
                   coalesce(\(now)::timestamptz, now()) AS clock,
                   t.timer_id, t.kind, t.callback_id, t.position, t.due_at, t.attempts
            FROM durable_timers t JOIN durable_executions e ON e.execution_id = t.execution_id
            WHERE t.fired_at IS NULL AND t.due_at <= coalesce(\(now)::timestamptz, now())
            ORDER BY t.due_at LIMIT \(limit)
            FOR UPDATE OF t, e SKIP LOCKED
            """
        )
        let claimed = try rows.map { row in
            let execution = try Self.execution(from: row)
            let (_, _, _, _, _, _, _, timerId, kind, callbackId, position, dueAt, attempts) = try row.decode(
                (UUID, String, String, String, String, String?, Date, UUID, String, UUID?, Int?, Date, Int).self)
            let timer = TimerRecord(
                timerId: timerId, executionId: execution.executionId, kind: TimerKind(rawValue: kind) ?? .wait,
                callbackId: callbackId, position: position, dueAt: dueAt, attempts: attempts)
            return (timer, execution)
        }
        return (claimed, now ?? claimed.first?.1.clock ?? Date())
    }

    /// Marks timers fired, in one statement however many.
    func queueTimersFired(_ ids: [UUID], at: Date) {
        guard !ids.isEmpty else { return }
        // One retired as it fired (a deadline's, with its callback's timers) is not written again.
        connection.queue(
            """
            UPDATE durable_timers SET fired_at = \(at)
            WHERE timer_id = ANY(\(PostgresArray(ids.map(\.uuidString)))::uuid[]) AND fired_at IS NULL
            """)
    }

    /// A timer that could not be fired stays pending, due again at `until`, with its attempts and why.
    func queuePostponement(_ id: UUID, until: Date, attempts: Int, error: String) {
        connection.queue(
            """
            UPDATE durable_timers SET due_at = \(until), attempts = \(attempts), last_error = \(String(error.prefix(1000)))
            WHERE timer_id = \(id)
            """)
    }

    /// The earliest pending due time, so the scheduler can sleep until then.
    func nextDueTime() async throws -> Date? {
        try await connection.query("SELECT min(due_at) FROM durable_timers WHERE fired_at IS NULL").column(Date?.self).first ?? nil
    }

    // MARK: - History

    /// Adds a history event dated `at` with the next `flushWrites()`.
    func queueHistory(executionId: UUID, type: String, details: [String: HistoryField], at: Date) {
        pending.add(history: PendingWrites.History(type: type, details: HistoryField.object(details), at: at), executionId: executionId)
    }

    // MARK: - Writes sent together

    /// Queues the history events, checkpoints and outbox messages written so far on the connection: the checkpoints
    /// and the messages as one statement each, however many there are, and the history as one row per execution (a
    /// page of `durable_history_pages`, its events in the order written). An invocation writes a dozen history events
    /// and checkpoints and a few messages; one statement of many rows saves the database a statement's overhead per
    /// row, and one row of many events a row's too. Every engine call that writes flushes before it returns, and
    /// before the execution's state is read back; a savepoint that rolls back puts the buffer back as it was when the
    /// savepoint was opened (`withSavepoint`).
    func flushWrites() {
        guard !defersWrites else { return }
        flushDeferredWrites()
    }

    /// `flushWrites()` whether or not the store defers them: what an engine call that defers them ends with.
    func flushDeferredWrites() {
        flush(pending)
    }

    /// Queues everything `writes` holds on this store's connection, and empties it.
    func flush(_ writes: PendingWrites) {
        let (history, operations, outbox) = writes.take()
        flush(history: history, operations: operations, outbox: outbox)
    }

    /// Queues only the checkpoints of `executionId` buffered so far (before they are read back); history, messages
    /// and other executions' checkpoints stay buffered.
    func flushOperations(of executionId: UUID) {
        let operations = pending.takeOperations(of: executionId)
        flush(history: [], operations: operations.isEmpty ? [] : [(executionId, operations)], outbox: [])
    }

    /// `history` and `operations` come a page per execution (an engine call that fires several timers writes about
    /// several), in the order of each one's first item: several pages go in one statement.
    private func flush(
        history historyPages: [PendingWrites.Page<PendingWrites.History>],
        operations operationPages: [PendingWrites.Page<PendingWrites.Operation>], outbox: [Outbox.Row]
    ) {
        if !outbox.isEmpty { connection.queue(Outbox.insert(outbox)) }
        if historyPages.count == 1, let (executionId, events) = historyPages.first {
            connection.queue(
                """
                INSERT INTO durable_history_pages (execution_id, event_types, details, dated)
                VALUES (\(executionId), \(PostgresArray(events.map(\.type)))::text[], \(PostgresArray(events.map(\.details)))::text[],
                        \(PostgresArray(events.map(\.at.postgresText)))::timestamptz[])
                """)
        } else if historyPages.count > 1 {
            // Each page's arrays go as one element of an array of their text, read back as arrays by the cast.
            func column(_ values: (PendingWrites.History) -> String?) -> PostgresArray {
                PostgresArray(historyPages.map { PostgresArray($0.items.map(values)).postgresText })
            }
            connection.queue(
                """
                INSERT INTO durable_history_pages (execution_id, event_types, details, dated)
                SELECT e, t::text[], d::text[], w::timestamptz[]
                FROM unnest(\(PostgresArray(historyPages.map(\.executionId.uuidString)))::uuid[], \(column(\.type))::text[],
                            \(column(\.details))::text[], \(column(\.at.postgresText))::text[])
                     WITH ORDINALITY AS pages (e, t, d, w, n)
                ORDER BY n
                """)
        }
        if operationPages.count == 1, let (executionId, page) = operationPages.first {
            let records = page.map(\.record)
            connection.queue(
                """
                INSERT INTO durable_operation_pages
                    (execution_id, positions, kinds, names, statuses, results, error_types, error_messages, at)
                VALUES (\(executionId), \(PostgresArray(records.map { String($0.position) }))::int[],
                        \(PostgresArray(records.map(\.kind)))::text[], \(PostgresArray(records.map(\.name)))::text[],
                        \(PostgresArray(records.map(\.status.rawValue)))::text[], \(PostgresArray(records.map(\.result)))::text[],
                        \(PostgresArray(records.map { $0.error?.errorType }))::text[],
                        \(PostgresArray(records.map { $0.error?.errorMessage }))::text[], \(page[page.count - 1].at))
                """)
        } else if operationPages.count > 1 {
            func column(_ values: (OperationRecord) -> String?) -> PostgresArray {
                PostgresArray(operationPages.map { PostgresArray($0.items.map { values($0.record) }).postgresText })
            }
            connection.queue(
                """
                INSERT INTO durable_operation_pages
                    (execution_id, positions, kinds, names, statuses, results, error_types, error_messages, at)
                SELECT e, p::int[], k::text[], n::text[], s::text[], r::text[], et::text[], em::text[], a::timestamptz
                FROM unnest(\(PostgresArray(operationPages.map(\.executionId.uuidString)))::uuid[], \(column { String($0.position) })::text[],
                            \(column(\.kind))::text[], \(column(\.name))::text[], \(column(\.status.rawValue))::text[],
                            \(column(\.result))::text[], \(column { $0.error?.errorType })::text[],
                            \(column { $0.error?.errorMessage })::text[],
                            \(PostgresArray(operationPages.map { $0.items[$0.items.count - 1].at.postgresText }))::text[])
                     WITH ORDINALITY AS pages (e, p, k, n, s, r, et, em, a, i)
                ORDER BY i
                """)
        }
    }

    /// Runs `body` in a savepoint (see `PostgresConnection.withSavepoint`). When it rolls back, the buffer is put back
    /// as it was when the savepoint was opened: what `body` buffered goes with the savepoint, what was buffered before
    /// is kept, even if `body` flushed it (its statement, sent inside the savepoint, was rolled back too).
    func withSavepoint<T>(_ name: StaticString, _ body: () async throws -> T) async throws -> T {
        let before = pending.snapshot()
        do {
            return try await connection.withSavepoint(name, body)
        } catch {
            pending.restore(before)
            throw error
        }
    }

    // MARK: - Inbox and outbox

    func recordInbox(eventId: UUID, topic: String) async throws -> Bool {
        try await connection.query(
            "INSERT INTO durable_inbox (event_id, topic) VALUES (\(eventId), \(topic)) ON CONFLICT (event_id) DO NOTHING"
        ).affectedRows == 1
    }

    func recordInbox(_ events: [(eventId: UUID, topic: String)]) async throws -> Set<UUID> {
        Set(
            try await connection.query(
                """
                INSERT INTO durable_inbox (event_id, topic)
                SELECT DISTINCT ON (e) e, t
                FROM unnest(\(PostgresArray(events.map(\.eventId.postgresText)))::uuid[],
                            \(PostgresArray(events.map(\.topic)))::text[]) WITH ORDINALITY AS i (e, t, o)
                ORDER BY e, o
                ON CONFLICT (event_id) DO NOTHING
                RETURNING event_id
                """
            ).column(UUID.self))
    }

    /// Queues a message; `trace` travels in its `traceparent` header, so the span that receives it is a child of
    /// the span that started the execution, and `headers` beside it.
    /// Written with the next `flushWrites()`, like history, in one statement with the invocation's other messages.
    func enqueue(topic: String, key: String, payload: String, trace: TraceContext?, headers: [String: String] = [:])
        async throws
    {
        pending.add(outbox: Outbox.Row(topic: topic, key: key, payload: payload, trace: trace, headers: headers))
    }
}

/// The buffer that the engine calls inside one `DurableEngine.writingTogether` share, on its connection.
final class SharedWrites: Sendable {
    @TaskLocal static var current: SharedWrites?

    let connection: PostgresConnection
    let pending = PendingWrites()

    init(connection: PostgresConnection) { self.connection = connection }
}

/// What a `DurableStore` has written and not yet queued on its connection. One engine call uses it, or the calls of
/// one `writingTogether` one after another, from one task; the lock only makes that checkable.
///
/// Held by execution: what one execution's state read takes (its checkpoints, `takeOperations`) is found without going
/// through the others', and a savepoint's `snapshot`, which the next write copies, copies each execution's list as a
/// reference, not every item held, so a batch of a hundred invocations costs in proportion to what it writes.
final class PendingWrites: Sendable {
    /// A history event; its execution is its page's.
    struct History {
        var type: String
        var details: String
        var at: Date
    }

    /// A checkpoint as it stands, and when; its execution is its page's.
    struct Operation {
        var record: OperationRecord
        var at: Date
    }

    /// What the buffer holds, as `snapshot()` returns it.
    struct State {
        /// Each execution's history events, in the order written; the executions in the order of their first event.
        var history = ByExecution<History>()
        /// Each execution's checkpoints, a position once (as it stands last), in the order first written.
        var operations = ByExecution<Operation>()
        /// Where each of an execution's positions is in its list of `operations`.
        var positions: [UUID: [Int: Int]] = [:]
        var outbox: [Outbox.Row] = []
    }

    /// One execution's items, in the order written.
    typealias Page<Item> = (executionId: UUID, items: [Item])

    /// Items grouped by execution, the groups in the order of their first items.
    struct ByExecution<Item: Sendable>: Sendable {
        private(set) var order: [UUID] = []
        private(set) var items: [UUID: [Item]] = [:]

        /// Appends `item` to `executionId`'s items; returns its place among them.
        @discardableResult
        mutating func append(_ item: Item, to executionId: UUID) -> Int {
            if items[executionId] == nil { order.append(executionId) }
            items[executionId, default: []].append(item)
            return items[executionId]!.count - 1
        }

        mutating func replace(at place: Int, of executionId: UUID, with item: Item) {
            items[executionId]![place] = item
        }

        mutating func remove(_ executionId: UUID) -> [Item] {
            guard let removed = items.removeValue(forKey: executionId) else { return [] }
            order.removeAll { $0 == executionId }
            return removed
        }

        /// Each execution's items, the executions in the order of their first items.
        var pages: [Page<Item>] { order.map { ($0, items[$0]!) } }
    }

    private let state = Mutex(State())

    func add(history: History, executionId: UUID) {
        state.withLock { $0.history.append(history, to: executionId) }
    }

    func add(outbox row: Outbox.Row) {
        state.withLock { $0.outbox.append(row) }
    }

    func add(operation record: OperationRecord, executionId: UUID, at: Date) {
        state.withLock { state in
            let operation = Operation(record: record, at: at)
            if let place = state.positions[executionId]?[record.position] {
                state.operations.replace(at: place, of: executionId, with: operation)
            } else {
                state.positions[executionId, default: [:]][record.position] = state.operations.append(operation, to: executionId)
            }
        }
    }

    /// What is held now, to `restore` when a savepoint opened now rolls back.
    func snapshot() -> State {
        state.withLock { $0 }
    }

    /// Holds `snapshot` again, in place of everything buffered (or flushed) since it was taken.
    func restore(_ snapshot: State) {
        state.withLock { $0 = snapshot }
    }

    /// The checkpoints of `executionId` held, in the order written; the history, the messages and other executions'
    /// checkpoints stay.
    func takeOperations(of executionId: UUID) -> [Operation] {
        state.withLock { state in
            state.positions[executionId] = nil
            return state.operations.remove(executionId)
        }
    }

    /// Everything held, the history and checkpoints a page per execution, in the order written; empties the buffer.
    func take() -> ([Page<History>], [Page<Operation>], [Outbox.Row]) {
        state.withLock { state in
            defer { state = State() }
            return (state.history.pages, state.operations.pages, state.outbox)
        }
    }
}
