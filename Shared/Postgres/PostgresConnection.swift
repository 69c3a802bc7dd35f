import CLibPQ
import Dispatch
import Foundation
import Synchronization

/// One libpq connection. Every libpq call runs on the connection's own serial queue, so the blocking calls never
/// run on Swift's cooperative pool and the connection is never used from two threads at once.
/// `@unchecked Sendable`: `PGconn` is not thread-safe; it is only touched on `queue`.
public final class PostgresConnection: @unchecked Sendable {
    private let queue: DispatchQueue
    private let connection: OpaquePointer
    private let broken = Atomic<Bool>(false)
    /// Statement text → the name it was prepared under on this connection. Only touched on `queue`.
    private var prepared: [String: String] = [:]
    /// How many distinct statements a connection keeps prepared; beyond that they are sent unprepared.
    static let maxPreparedStatements = 512

    private init(connection: OpaquePointer, queue: DispatchQueue) {
        self.connection = connection
        self.queue = queue
    }

    deinit {
        // PQfinish writes to the socket; it runs on the connection's own queue, like every libpq call.
        let connection = FinishingConnection(pointer: connection)
        queue.async { PQfinish(connection.pointer) }
    }

    /// Opens a connection and sets the session to UTC with ISO dates.
    public static func connect(_ configuration: PostgresConfiguration) async throws -> PostgresConnection {
        let queue = DispatchQueue(label: "greenlight.postgres.connection")
        let connection = try await queue.run { () throws -> PostgresConnection in
            guard let raw = PQconnectdb(configuration.url) else {
                throw PostgresError(.connectionFailed, "libpq could not allocate a connection")
            }
            guard PQstatus(raw) == CONNECTION_OK else {
                let reason = Self.firstLine(PQerrorMessage(raw))
                PQfinish(raw)
                throw PostgresError(.connectionFailed, "cannot connect to \(configuration.maskedURL): \(reason)")
            }
            return PostgresConnection(connection: raw, queue: queue)
        }
        try await connection.execute(script: "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET client_min_messages = warning")
        return connection
    }

    /// True once a query found the connection unusable; the pool then drops it.
    public var isBroken: Bool { broken.load(ordering: .acquiring) }

    /// Runs one parameterised statement. Each distinct statement text is prepared once per connection (the
    /// server parses and plans it once, not on every call) and then executed by name.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await queue.run { [self] in
            let name = try preparedName(for: query)
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
        if let name = prepared[query.sql] { return name }
        guard prepared.count < Self.maxPreparedStatements else { return nil }
        let name = "greenlight_\(prepared.count + 1)"
        _ = try rows(from: PQprepare(connection, name, query.sql, Int32(query.bindings.count), nil), sql: query.sql)
        prepared[query.sql] = name
        return name
    }

    /// How many statements this connection has prepared (for tests).
    public var preparedStatementCount: Int {
        get async throws { try await queue.run { [self] in prepared.count } }
    }

    /// Runs one or more statements without parameters (migrations, session settings, BEGIN/COMMIT).
    public func execute(script: String) async throws {
        try await queue.run { [self] in
            _ = try rows(from: PQexec(connection, script), sql: script)
        }
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
        return PostgresRows(columns: columns, values: values, affectedRows: affected)
    }

    @discardableResult
    private func markBrokenIfNeeded() -> Bool {
        if PQstatus(connection) != CONNECTION_OK {
            broken.store(true, ordering: .releasing)
            return true
        }
        return false
    }

    private static func firstLine(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "unknown error" }
        let message = String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
        return message.split(whereSeparator: \.isNewline).first.map(String.init) ?? "unknown error"
    }
}

/// Carries a closing connection to its queue. `@unchecked Sendable`: nothing else uses it by then.
private struct FinishingConnection: @unchecked Sendable {
    let pointer: OpaquePointer
}

extension DispatchQueue {
    /// Runs a blocking libpq call on this queue (never on Swift's cooperative pool) and awaits its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            self.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
