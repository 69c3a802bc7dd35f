/// An error from the Postgres module. Descriptions carry the server's SQLSTATE and primary message and the
/// SQL text, never the bound values, so that data does not leak into logs.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The URL in `GREENLIGHT_DATABASE_URL` (or given to the pool) cannot be used.
        case invalidConfiguration
        /// The server could not be reached or refused the login.
        case connectionFailed
        /// The connection broke during a query (for example the server restarted); retry with a new connection.
        case connectionLost
        /// The server rejected the statement.
        case queryFailed
        /// A column's value did not have the type the caller asked for.
        case decodingFailed
        /// The pool is shut down.
        case poolClosed
        /// A `PostgresListener` has as many subscriptions as it may; one may be made again once others end.
        case tooManySubscriptions
    }

    public var code: Code
    public var reason: String
    /// The five-character SQLSTATE, for `.queryFailed`.
    public var sqlState: String?
    /// The statement's SQL text (with `$n` placeholders, never values).
    public var query: String?
    /// Where the failing statement was queued (`PostgresConnection.queue`), when it was: the await that threw
    /// is not the call that asked for it.
    public var queuedAt: String?

    public init(_ code: Code, _ reason: String, sqlState: String? = nil, query: String? = nil, queuedAt: String? = nil) {
        self.code = code
        self.reason = reason
        self.sqlState = sqlState
        self.query = query
        self.queuedAt = queuedAt
    }

    /// `23505`: a unique constraint was violated.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// `40001`/`40P01`: a serialization failure or deadlock; the transaction may be retried.
    public var isRetryableConflict: Bool { sqlState == "40001" || sqlState == "40P01" }

    /// Whether the failure is the environment's rather than the data's: the connection went or could not be made,
    /// the transaction lost a conflict, or the server cannot do the work right now (read-only after a failover
    /// 25006, disk full 53100, too many connections 53300, statement timeout 57014, admin shutdown 57P01, I/O
    /// error 58030…) or is not set up for it (a missing table or privilege after a bad deployment, class 42).
    /// Trying the same work again later can succeed, so it is nobody's fault. Only a data exception (class 22),
    /// an integrity constraint (23) or a program limit (54, say an index entry too large) is caused by what the
    /// statement carried, and a `decodingFailed` by what a row held.
    public var isTransient: Bool {
        switch code {
        case .connectionLost, .connectionFailed, .poolClosed, .tooManySubscriptions: return true
        case .invalidConfiguration, .decodingFailed: return false
        case .queryFailed:
            guard let sqlState, sqlState.count == 5 else { return false }
            return !Self.contentClasses.contains(String(sqlState.prefix(2)))
        }
    }

    /// SQLSTATE classes whose errors come from the values a statement carried.
    static let contentClasses: Set<String> = ["22", "23", "54"]

    /// Whether `error` is a transient `PostgresError`.
    public static func isTransient(_ error: any Error) -> Bool { (error as? PostgresError)?.isTransient == true }

    public var description: String {
        var text = "Postgres \(code.rawValue): \(reason)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let query { text += " in: \(query.split(whereSeparator: \.isNewline).joined(separator: " ").prefix(200))" }
        if let queuedAt { text += " (queued at \(queuedAt), sent with a later statement)" }
        if code == .connectionFailed { text += " (check GREENLIGHT_DATABASE_URL and that the server is running)" }
        return text
    }
}
