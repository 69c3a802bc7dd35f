import CLibPQ
import Dispatch
import Foundation
import Synchronization

/// One libpq connection. Every libpq call runs on the connection's own serial queue, so the blocking calls never
/// run on Swift's cooperative pool and the connection is never used from two threads at once.
///
/// A task that prefers the connection's `executor` (`PostgresPool.withConnection` lends connections that way) runs on
/// that queue itself, so its libpq calls are made right where it runs: a round trip costs no hop to the queue and back
/// (two thread wake-ups each: about a tenth of a busy orchestrator's CPU), only the statement's own time. Any other caller
/// hops there and back.
/// `@unchecked Sendable`: `PGconn` is not thread-safe; it is only touched on `queue`.
public final class PostgresConnection: @unchecked Sendable {
    private let queue: DispatchQueue
    /// Runs the jobs of tasks that prefer it on `queue` (`withTaskExecutorPreference`).
    public let executor: ConnectionExecutor
    /// What `queue` answers to `DispatchQueue.getSpecific(key: onQueueKey)`: how a call knows it already runs there.
    private let queueIdentity: Int
    private let connection: OpaquePointer
    private let broken = Atomic<Bool>(false)
    private let exchanges = Atomic<Int>(0)
    private let statements = Atomic<Int>(0)
    private let hopCount = Atomic<Int>(0)
    /// Statement text → the name it was prepared under on this connection. Only touched on `queue`.
    private var prepared: [String: String] = [:]
    /// How many distinct statements a connection keeps prepared; beyond that they are sent unprepared.
    static let maxPreparedStatements = 512
    /// Statements queued with `queue(_:)`, sent ahead of the next statement that is awaited.
    private let queued = Mutex<[PostgresQuery]>([])
    /// How many queued statements are sent at most in one go (so one pipeline stays small).
    static let maxQueued = 64
    /// What is to happen once the transaction in progress commits (`afterCommit`), in the order it was asked for.
    private let commitActions = Mutex<[@Sendable () -> Void]>([])

    /// What `PQcancel` needs to ask the server to stop this connection's statement; usable from any thread.
    private let cancelHandle: OpaquePointer?

    private init(connection: OpaquePointer, queue: DispatchQueue, identity: Int) {
        self.connection = connection
        self.queue = queue
        queueIdentity = identity
        executor = ConnectionExecutor(queue: queue)
        cancelHandle = PQgetCancel(connection)
    }

    private static let onQueueKey = DispatchSpecificKey<Int>()
    private static let identities = Atomic<Int>(0)

    /// Whether the caller runs on this connection's queue (a task that prefers its `executor`).
    private var isOnQueue: Bool { DispatchQueue.getSpecific(key: Self.onQueueKey) == queueIdentity }

    /// Runs libpq calls on the connection's queue: right here when the caller already runs there, otherwise by
    /// hopping there and back.
    private func onQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        if isOnQueue { return try body() }
        hopCount.add(1, ordering: .relaxed)
        return try await queue.run(body)
    }

    deinit {
        // PQfinish writes to the socket; it runs on the connection's own queue, like every libpq call.
        let connection = FinishingConnection(pointer: connection)
        let cancel = FinishingConnection(pointer: cancelHandle)
        queue.async {
            if let handle = cancel.pointer { PQfreeCancel(handle) }
            PQfinish(connection.pointer)
        }
    }

    /// Opens a connection and sets the session to UTC with ISO dates.
    public static func connect(_ configuration: PostgresConfiguration) async throws -> PostgresConnection {
        let queue = DispatchQueue(label: "greenlight.postgres.connection")
        let identity = identities.add(1, ordering: .relaxed).newValue
        queue.setSpecific(key: onQueueKey, value: identity)
        let connection = try await queue.run { () throws -> PostgresConnection in
            guard let raw = PQconnectdb(configuration.connectionURL) else {
                throw PostgresError(.connectionFailed, "libpq could not allocate a connection")
            }
            guard PQstatus(raw) == CONNECTION_OK else {
                let reason = Self.firstLine(PQerrorMessage(raw))
                PQfinish(raw)
                throw PostgresError(.connectionFailed, "cannot connect to \(configuration.maskedURL): \(reason)")
            }
            return PostgresConnection(connection: raw, queue: queue, identity: identity)
        }
        try await connection.execute(script: "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET client_min_messages = warning")
        return connection
    }

    /// How many times this connection has sent statements and waited for the answer (a pipeline counts once),
    /// preparing included: what queueing and pipelining save shows here.
    public var roundTrips: Int { exchanges.load(ordering: .relaxed) }

    /// How many statements this connection has sent (a script counts once, preparing not at all): what writing
    /// several rows in one statement saves shows here.
    public var statementsSent: Int { statements.load(ordering: .relaxed) }

    /// How many times a caller had to hop to the connection's queue and back for its libpq calls (it did not run
    /// there): what running on the connection's `executor` saves shows here.
    public var hops: Int { hopCount.load(ordering: .relaxed) }

    /// True once a query found the connection unusable; the pool then drops it.
    public var isBroken: Bool { broken.load(ordering: .acquiring) }

    /// Runs one parameterised statement, after any queued ones. Each distinct statement text is prepared once
    /// per connection (the server parses and plans it once, not on every call) and then executed by name.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        // A blocking libpq call cannot be interrupted once sent; a cancelled caller sends nothing more.
        try Task.checkCancellation()
        if let pending = takeQueued() {
            return try await cancellably { [self] in try pipeline(pending, then: query) }
        }
        return try await cancellably { [self] in
            let name = try preparedName(for: query)
            exchanges.add(1, ordering: .relaxed)
            statements.add(1, ordering: .relaxed)
            let values = query.bindings.map { $0.flatMap { strdup($0) } }
            defer { for value in values { free(value) } }
            let result = values.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { pointers in
                    if let name {
                        PQexecPrepared(connection, name, Int32(values.count), pointers.baseAddress, nil, nil, 0)
                    } else {
                        PQexecParams(connection, query.sql, Int32(values.count), nil, pointers.baseAddress, nil, nil, 0)
                    }
                }
            }
            return try rows(from: result, sql: query.sql)
        }
    }

    /// Called on `queue`: the name `query`'s text is prepared under, preparing it first if needed; nil once the
    /// connection holds its limit of prepared statements. A statement prepared inside a transaction that rolls
    /// back stays prepared (preparing is not transactional), so the cache never names a missing statement.
    private func preparedName(for query: PostgresQuery) throws -> String? {
        try Self.refuseNUL(query)
        if let name = prepared[query.sql] { return name }
        guard prepared.count < Self.maxPreparedStatements else { return nil }
        let name = "greenlight_\(prepared.count + 1)"
        exchanges.add(1, ordering: .relaxed)
        _ = try rows(from: PQprepare(connection, name, query.sql, Int32(query.bindings.count), nil), sql: query.sql)
        prepared[query.sql] = name
        return name
    }

    /// How many statements this connection has prepared (for tests).
    public var preparedStatementCount: Int {
        get async throws { try await onQueue { [self] in prepared.count } }
    }

    /// Runs one or more statements without parameters (migrations, session settings, BEGIN/COMMIT), after any
    /// queued ones (a caller rolling back drops them first with `discardQueued`).
    public func execute(script: String) async throws {
        _ = try await run(script: script)
    }

    /// `execute(script:)`, returning what the script's last statement answered.
    private func run(script: String) async throws -> PostgresRows {
        if let pending = takeQueued() {
            // One statement rides in the same round trip as the queued ones; a script of several cannot (a
            // pipeline takes single statements), so the queue goes first.
            if !script.contains(";") {
                return try await onQueue { [self] in try pipeline(pending, then: PostgresQuery(stringLiteral: script)) }
            }
            try await onQueue { [self] in _ = try pipeline(pending, then: nil) }
        }
        return try await onQueue { [self] in
            exchanges.add(1, ordering: .relaxed)
            statements.add(1, ordering: .relaxed)
            return try rows(from: PQexec(connection, script), sql: script)
        }
    }

    /// Ends the transaction with `COMMIT`, sent with any queued statements, and throws when the server rolled it back
    /// instead. A transaction in which a statement failed answers `COMMIT` with `ROLLBACK` and no error: a caller that
    /// went on after such a failure (one it caught, or a savepoint it could not roll back to) must not be told that
    /// its work was kept.
    public func commit() async throws {
        let answer = try await run(script: "COMMIT")
        // No SQLSTATE: the failure that aborted the transaction was swallowed before this, and it is the work's, not
        // the server's (a transient error would have it retried for ever).
        guard answer.command == "COMMIT" else {
            throw PostgresError(
                .queryFailed,
                "the transaction had failed (a statement in it was refused and the caller went on), so the server "
                    + "rolled it back at COMMIT: nothing it wrote was kept",
                query: "COMMIT")
        }
    }

    // MARK: - Queued statements

    /// Queues a statement whose result nobody reads (an insert into a history, say). It is sent together with
    /// the next statement that is awaited — `query`, `execute` (`COMMIT`, typically) or `flush` — in one round
    /// trip, in the order queued. If it fails, that next statement throws its error, and the transaction is
    /// aborted exactly as if it had run on its own: queue only inside a transaction, or flush before relying on
    /// it.
    ///
    /// Not `async`: the call returns before anything is sent, so no `await` pretends it ran. An error it causes
    /// names where it was queued (`PostgresError.queuedAt`). Callers that wrap it say so in their name (`queue…`).
    public func queue(_ query: PostgresQuery, fileID: String = #fileID, line: Int = #line) {
        var query = query
        query.queuedAt = "\(fileID):\(line)"
        queued.withLock { $0.append(query) }
    }

    /// Queues a single statement without parameters (`SAVEPOINT name`, say).
    public func queue(script: String, fileID: String = #fileID, line: Int = #line) {
        queue(PostgresQuery(stringLiteral: script), fileID: fileID, line: line)
    }

    /// Runs `body` inside `SAVEPOINT name`, within the caller's transaction: released when `body` returns, rolled
    /// back to when it throws (the error is rethrown), so the transaction can go on without what `body` wrote — or
    /// what it asked to happen after the commit (`afterCommit`).
    public func withSavepoint<T>(_ name: StaticString, _ body: () async throws -> T) async throws -> T {
        let actions = afterCommitMark
        queue(script: "SAVEPOINT \(name)")
        do {
            let result = try await body()
            try await execute(script: "RELEASE SAVEPOINT \(name)")
            return result
        } catch {
            dropAfterCommit(since: actions)
            // On a lost connection the rollback fails too; the caller gets the error that started it.
            try? await execute(script: "ROLLBACK TO SAVEPOINT \(name)")
            throw error
        }
    }

    /// Has `action` run once the transaction in progress commits: for what must count a transaction's work once, such
    /// as a metric. A transaction that rolls back (and is tried again, or a batch of work done again one item at a
    /// time) drops it, and so does a rollback to a savepoint taken before it was asked for (`withSavepoint`; code that
    /// writes its own `SAVEPOINT` uses `afterCommitMark` and `dropAfterCommit(since:)`). `PostgresPool.transaction`
    /// runs the actions after its `COMMIT`; on a connection lent without a transaction they are dropped when it goes
    /// back to the pool.
    public func afterCommit(_ action: @escaping @Sendable () -> Void) {
        commitActions.withLock { $0.append(action) }
    }

    /// Where the actions waiting for the commit stand: taken with a savepoint, and given to `dropAfterCommit(since:)`
    /// when the transaction rolls back to it.
    public var afterCommitMark: Int { commitActions.withLock { $0.count } }

    /// Drops the actions asked for after `mark` (`afterCommitMark`): what a rollback to a savepoint undid.
    public func dropAfterCommit(since mark: Int) {
        commitActions.withLock { actions in
            if actions.count > mark { actions.removeSubrange(mark...) }
        }
    }

    /// Takes the actions waiting for the commit (the pool runs them once it has committed, or drops them).
    func takeAfterCommit() -> [@Sendable () -> Void] {
        commitActions.withLock { actions in
            defer { actions.removeAll() }
            return actions
        }
    }

    /// The server's `now()`: the time the current transaction started, by the database's clock — the one clock
    /// every instance agrees on, whatever its host's says.
    public func databaseTime() async throws -> Date {
        guard let time = try await query("SELECT now()").column(Date.self).first else {
            throw PostgresError(.decodingFailed, "SELECT now() returned no row")
        }
        return time
    }

    /// Sends whatever is queued and waits for it; nothing happens when nothing is.
    public func flush() async throws {
        guard let pending = takeQueued() else { return }
        try await onQueue { [self] in _ = try pipeline(pending, then: nil) }
    }

    /// Drops whatever is queued, unsent; returns the statements' text (for the pool, to know whether a
    /// transaction's `BEGIN` ever left).
    @discardableResult
    public func discardQueued() -> [String] {
        (takeQueued() ?? []).map(\.sql)
    }

    private func takeQueued() -> [PostgresQuery]? {
        queued.withLock { queued in
            guard !queued.isEmpty else { return nil }
            defer { queued.removeAll(keepingCapacity: true) }
            return queued
        }
    }

    /// Called on `queue`: sends `pending` and then `final` in pipeline mode with one sync at the end, and reads
    /// every result. The first failure is thrown (the statements after it were skipped by the server); otherwise
    /// `final`'s rows are returned.
    private func pipeline(_ pending: [PostgresQuery], then final: PostgresQuery?) throws -> PostgresRows {
        try pipeline(pending, then: final.map { [$0] } ?? []).last ?? PostgresRows(columns: [], values: [], affectedRows: 0)
    }

    /// Parameters travel as C strings, which would end at a NUL; Postgres text cannot hold one either. Such a
    /// statement is refused before it is sent, as the server refuses a value it cannot store (SQLSTATE 22021).
    private static func refuseNUL(_ query: PostgresQuery) throws {
        if query.bindings.contains(where: { $0.map(hasNUL) == true }) {
            throw PostgresError(
                .queryFailed, "a parameter contains a NUL character, which Postgres text cannot hold", sqlState: "22021",
                query: query.sql)
        }
    }

    /// Whether `text` holds a NUL: `memchr` over its UTF-8 where it is contiguous (a byte-at-a-time scan of every
    /// parameter of every statement was 1% of the orchestrator's CPU).
    static func hasNUL(_ text: String) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { bytes in
            guard let base = bytes.baseAddress else { return false }
            return memchr(base, 0, bytes.count) != nil
        } ?? text.utf8.contains(0)
    }

    /// The same with several awaited statements at the end: their rows, in order. A statement with a NUL fails
    /// where it stands, as a server error would: what was queued before it is still sent (a savepoint, say, that
    /// the caller then rolls back to), what comes after it is not.
    private func pipeline(_ pending: [PostgresQuery], then finals: [PostgresQuery]) throws -> [PostgresRows] {
        let all = pending + finals
        if let bad = all.firstIndex(where: { (try? Self.refuseNUL($0)) == nil }) {
            if bad > 0 { _ = try pipeline(Array(all[..<bad]), then: []) }
            do {
                try Self.refuseNUL(all[bad])
            } catch var error as PostgresError {
                error.queuedAt = all[bad].queuedAt
                throw error
            }
        }
        let statements = all
        var results: [PostgresRows] = []
        var start = 0
        while start < statements.count {
            let end = min(statements.count, start + Self.maxQueued)
            results += try pipelineBatch(statements[start..<end])
            start = end
        }
        return Array(results.suffix(finals.count))
    }

    /// Runs several statements (after any queued ones) in one round trip and returns each one's rows, in order:
    /// for reads that do not depend on each other.
    public func query(_ queries: [PostgresQuery]) async throws -> [PostgresRows] {
        try Task.checkCancellation()
        let pending = takeQueued() ?? []
        return try await cancellably { [self] in try pipeline(pending, then: queries) }
    }

    // MARK: - Cancellation

    /// Runs `body` (libpq calls) on the connection's queue (`onQueue`). Cancelling the calling task before `body` starts means
    /// it never does; cancelling it while `body` waits for the server asks the server to cancel the statement
    /// (`PQcancel`), which then ends with SQLSTATE 57014 — either way the caller gets `CancellationError`, and the
    /// transaction it was in is rolled back by its owner. (Statements sent with `execute(script:)` — `COMMIT`,
    /// `ROLLBACK`, migrations — are not cancelled: a transaction is always ended cleanly.)
    private func cancellably<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let call = CancellableCall()
        do {
            return try await withTaskCancellationHandler {
                try await onQueue { [self] in
                    let starts = call.state.withLock { state -> Bool in
                        guard state == .waiting else { return false }
                        state = .running
                        return true
                    }
                    guard starts else { throw CancellationError() }
                    // Marked done under the same lock the cancel request holds: a cancel sent while this statement
                    // ran reaches this statement, never the next one on the connection.
                    defer { call.state.withLock { $0 = .done } }
                    return try body()
                }
            } onCancel: { [self] in
                // PQcancel connects to the server and waits: off Swift's cooperative pool.
                Self.cancelQueue.async { self.cancel(call, againAfterMilliseconds: 50) }
            }
        } catch let error as PostgresError where error.sqlState == "57014" && Task.isCancelled {
            throw CancellationError()
        }
    }

    /// Where cancel requests are sent from (each is a short blocking exchange with the server).
    private static let cancelQueue = DispatchQueue(label: "greenlight.postgres.cancel")

    /// Stops `call`: before it starts, by marking it cancelled; while it runs, by asking the server to cancel what the
    /// backend runs, and asking again, less and less often (up to once a second), until the call ends. One request is
    /// not enough: a call can be several exchanges (a statement's first use prepares it, then executes it), and a
    /// cancel that reaches the backend between two of them finds it idle, and the server drops it.
    private func cancel(_ call: CancellableCall, againAfterMilliseconds delay: Int) {
        let running = call.state.withLock { state -> Bool in
            switch state {
            case .waiting:
                state = .cancelled
                return false
            case .running:
                requestServerCancel()
                return true
            case .done, .cancelled:
                return false
            }
        }
        guard running else { return }
        Self.cancelQueue.asyncAfter(deadline: .now() + .milliseconds(delay)) {
            self.cancel(call, againAfterMilliseconds: min(delay * 2, 1_000))
        }
    }

    /// Asks the server to cancel whatever this connection's backend is running (thread-safe, any thread).
    private func requestServerCancel() {
        guard let cancelHandle else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancelHandle, &buffer, Int32(buffer.count))
    }

    private func pipelineBatch(_ statements: ArraySlice<PostgresQuery>) throws -> [PostgresRows] {
        // Statements with parameters are prepared first (once per connection, outside the pipeline).
        let names = try statements.map { statement -> String? in
            guard !statement.bindings.isEmpty else { return nil }
            do {
                return try preparedName(for: statement)
            } catch var error as PostgresError {
                // Preparing is where a statement about a missing table fails: it still names where it was queued.
                error.queuedAt = statement.queuedAt
                throw error
            }
        }
        exchanges.add(1, ordering: .relaxed)
        self.statements.add(statements.count, ordering: .relaxed)
        guard PQenterPipelineMode(connection) == 1 else {
            markBrokenIfNeeded()
            throw PostgresError(.connectionLost, Self.firstLine(PQerrorMessage(connection)))
        }
        // A pipeline left with results unread cannot be trusted again: such a connection is marked broken (the
        // pool closes it) rather than drained, which could wait for answers that never come.
        defer {
            if PQexitPipelineMode(connection) != 1 { broken.store(true, ordering: .releasing) }
        }
        for (statement, name) in zip(statements, names) {
            let values = statement.bindings.map { $0.flatMap { strdup($0) } }
            defer { for value in values { free(value) } }
            let sent = values.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { pointers in
                    if let name {
                        PQsendQueryPrepared(connection, name, Int32(values.count), pointers.baseAddress, nil, nil, 0)
                    } else {
                        PQsendQueryParams(connection, statement.sql, Int32(values.count), nil, pointers.baseAddress, nil, nil, 0)
                    }
                }
            }
            guard sent == 1 else {
                broken.store(true, ordering: .releasing)
                throw PostgresError(.connectionLost, Self.firstLine(PQerrorMessage(connection)), query: statement.sql)
            }
        }
        guard PQpipelineSync(connection) == 1 else {
            broken.store(true, ordering: .releasing)
            throw PostgresError(.connectionLost, Self.firstLine(PQerrorMessage(connection)))
        }
        var firstError: (any Error)?
        var results: [PostgresRows] = []
        results.reserveCapacity(statements.count)
        for statement in statements {
            guard let result = PQgetResult(connection) else {
                broken.store(true, ordering: .releasing)
                throw PostgresError(.connectionLost, Self.firstLine(PQerrorMessage(connection)), query: statement.sql)
            }
            if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
                PQclear(result)
            } else {
                do {
                    results.append(try rows(from: result, sql: statement.sql))
                } catch var error as PostgresError {
                    error.queuedAt = statement.queuedAt
                    if firstError == nil { firstError = error }
                } catch {
                    if firstError == nil { firstError = error }
                }
            }
            // Each statement's results end with a null.
            while let extra = PQgetResult(connection) { PQclear(extra) }
        }
        if let sync = PQgetResult(connection) {
            let status = PQresultStatus(sync)
            PQclear(sync)
            if status != PGRES_PIPELINE_SYNC, firstError == nil {
                markBrokenIfNeeded()
                firstError = PostgresError(.connectionLost, Self.firstLine(PQerrorMessage(connection)))
            }
        }
        if let firstError { throw firstError }
        return results
    }

    /// Called on `queue`: copies a result out of libpq and frees it, or turns it into a `PostgresError`.
    private func rows(from result: OpaquePointer?, sql: String) throws -> PostgresRows {
        guard let result else {
            markBrokenIfNeeded()
            throw PostgresError(.connectionLost, Self.firstLine(PQerrorMessage(connection)), query: sql)
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY else {
            let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let primary = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
            if markBrokenIfNeeded() || sqlState == nil {
                throw PostgresError(
                    .connectionLost, primary ?? Self.firstLine(PQerrorMessage(connection)), query: sql)
            }
            throw PostgresError(.queryFailed, primary ?? "the server rejected the statement", sqlState: sqlState, query: sql)
        }
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var values: [[String?]] = []
        values.reserveCapacity(rowCount)
        for row in 0..<Int32(rowCount) {
            values.append(
                (0..<Int32(columnCount)).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                })
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        var rows = PostgresRows(columns: columns, values: values, affectedRows: affected)
        rows.command = String(cString: PQcmdStatus(result))
        return rows
    }

    @discardableResult
    private func markBrokenIfNeeded() -> Bool {
        if PQstatus(connection) != CONNECTION_OK {
            broken.store(true, ordering: .releasing)
            return true
        }
        return false
    }

    static func firstLine(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "unknown error" }
        let message = String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
        return message.split(whereSeparator: \.isNewline).first.map(String.init) ?? "unknown error"
    }
}

/// One cancellable call's state: waiting for the queue, running on it, done, or cancelled before it ran.
private final class CancellableCall: Sendable {
    enum State { case waiting, running, done, cancelled }
    let state = Mutex<State>(.waiting)
}

/// Carries a closing connection to its queue. `@unchecked Sendable`: nothing else uses it by then.
private struct FinishingConnection: @unchecked Sendable {
    let pointer: OpaquePointer?
}

/// A task executor that runs jobs on one connection's serial queue: a task that prefers it runs where the
/// connection's blocking libpq calls are allowed to block (the queue's own thread, never Swift's cooperative pool), so
/// it makes them in place. Only the task holding the connection prefers it: whatever else would run there waits
/// while a statement does.
public final class ConnectionExecutor: TaskExecutor {
    private let queue: DispatchQueue

    init(queue: DispatchQueue) {
        self.queue = queue
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

extension DispatchQueue {
    /// Runs a blocking libpq call on this queue (never on Swift's cooperative pool) and awaits its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            self.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
