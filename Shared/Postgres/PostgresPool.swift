import Logging
import Synchronization

/// A bounded pool of connections. Connections are opened on demand up to `maxConnections`; callers beyond that
/// wait their turn. A connection found broken (say, after a server restart) is dropped and the next caller gets
/// a new one, so the pool recovers by itself once the server is back.
public final class PostgresPool: Sendable {
    public let configuration: PostgresConfiguration
    public let maxConnections: Int
    private let logger: Logger

    private struct State {
        var idle: [PostgresConnection] = []
        var open = 0
        /// Callers waiting for a connection, first come first served, by id (so a cancelled one can leave).
        var waiters: [(id: UInt64, continuation: CheckedContinuation<PostgresConnection?, any Error>)] = []
        var nextWaiter: UInt64 = 0
        var closed = false
    }

    private let state = Mutex(State())

    public init(configuration: PostgresConfiguration, maxConnections: Int = 8, logger: Logger) {
        precondition(maxConnections > 0)
        self.configuration = configuration
        self.maxConnections = maxConnections
        self.logger = logger
    }

    /// Runs one statement on a pooled connection.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await withConnection { try await $0.query(query) }
    }

    /// Lends a connection to `body` and takes it back afterwards, whatever happens. Statements `body` queued
    /// are sent before the connection goes back (or dropped, when `body` throws). `body` runs on the connection's
    /// executor (its queue's thread), so its statements are sent from where it runs, without a hop each (see
    /// `PostgresConnection`); what `body` awaits besides them resumes there too.
    public func withConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await acquire()
        do {
            let result = try await withTaskExecutorPreference(connection.executor) {
                let result = try await body(connection)
                try await connection.flush()
                return result
            }
            // Actions no transaction of `transaction` ran: nothing committed them, and the next borrower must not.
            _ = connection.takeAfterCommit()
            release(connection)
            return result
        } catch {
            connection.discardQueued()
            _ = connection.takeAfterCommit()
            release(connection)
            throw error
        }
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws. `BEGIN` is queued,
    /// so it travels with the transaction's first statement rather than on its own. A transaction the server rolled
    /// back at `COMMIT` (a statement in it had failed, and `body` went on) throws (`PostgresConnection.commit`). What
    /// `body` asked to happen after the commit (`PostgresConnection.afterCommit`) runs once the `COMMIT` has succeeded,
    /// and not otherwise — not even when the server committed but its answer was lost with the connection.
    public func transaction<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in
            connection.queue(script: "BEGIN")
            do {
                let result = try await body(connection)
                try await connection.commit()
                for action in connection.takeAfterCommit() { action() }
                return result
            } catch {
                // Nothing reached the server when BEGIN itself is still queued: nothing to roll back.
                let beganOnServer = connection.discardQueued().first != "BEGIN"
                if beganOnServer, !connection.isBroken { try? await connection.execute(script: "ROLLBACK") }
                throw error
            }
        }
    }

    /// Closes idle connections and refuses new work; connections in use are closed when returned.
    public func close() {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            defer {
                state.idle.removeAll()
                state.waiters.removeAll()
            }
            state.open -= state.idle.count
            return (state.idle, state.waiters)
        }
        _ = idle  // released here: each connection's deinit calls PQfinish
        for waiter in waiters { waiter.continuation.resume(throwing: PostgresError(.poolClosed, "the connection pool is closed")) }
    }

    // MARK: - Lending

    private enum Acquisition {
        case reuse(PostgresConnection)
        case open
        case wait
        case closed
    }

    private func acquire() async throws -> PostgresConnection {
        let next: Acquisition = state.withLock { state in
            if state.closed { return .closed }
            if let connection = state.idle.popLast() { return .reuse(connection) }
            if state.open < maxConnections {
                state.open += 1
                return .open
            }
            return .wait
        }
        switch next {
        case .reuse(let connection):
            return connection
        case .open:
            return try await openCounted()
        case .closed:
            throw PostgresError(.poolClosed, "the connection pool is closed")
        case .wait:
            // A caller that is cancelled while it waits (an HTTP answer past its deadline, say) leaves the queue.
            let id = state.withLock { state in
                defer { state.nextWaiter += 1 }
                return state.nextWaiter
            }
            let handed: PostgresConnection? = try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let refusal: (any Error)? = state.withLock { state in
                        if state.closed { return PostgresError(.poolClosed, "the connection pool is closed") }
                        if Task.isCancelled { return CancellationError() }
                        state.waiters.append((id, continuation))
                        return nil
                    }
                    if let refusal { continuation.resume(throwing: refusal) }
                }
            } onCancel: {
                let waiter = state.withLock { state in
                    state.waiters.firstIndex { $0.id == id }.map { state.waiters.remove(at: $0).continuation }
                }
                waiter?.resume(throwing: CancellationError())
            }
            // nil: a slot was freed for this waiter, which opens its own connection.
            if let handed { return handed }
            return try await openCounted()
        }
    }

    /// Opens a connection for a slot already counted in `open`; gives the slot back if that fails.
    private func openCounted() async throws -> PostgresConnection {
        do {
            return try await PostgresConnection.connect(configuration)
        } catch {
            freeSlot()
            throw error
        }
    }

    private func release(_ connection: PostgresConnection) {
        if connection.isBroken {
            logger.warning("Dropping a broken Postgres connection")
            freeSlot()
            return
        }
        let waiter: CheckedContinuation<PostgresConnection?, any Error>? = state.withLock { state in
            if state.closed {
                state.open -= 1
                return nil
            }
            if !state.waiters.isEmpty { return state.waiters.removeFirst().continuation }
            state.idle.append(connection)
            return nil
        }
        waiter?.resume(returning: connection)
    }

    /// A slot is free: hand it to the first waiter (who opens a connection) or just count it down.
    private func freeSlot() {
        let waiter: CheckedContinuation<PostgresConnection?, any Error>? = state.withLock { state in
            if !state.closed, !state.waiters.isEmpty { return state.waiters.removeFirst().continuation }
            state.open -= 1
            return nil
        }
        waiter?.resume(returning: nil)
    }
}
