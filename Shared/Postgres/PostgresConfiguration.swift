import Foundation

/// Where the database is: a libpq connection URL such as
/// `postgresql://greenlight:secret@127.0.0.1:5432/greenlight?sslmode=disable`.
public struct PostgresConfiguration: Sendable, CustomStringConvertible {
    public let url: String
    /// What libpq is given: `url`, with a `connect_timeout` when it has none.
    public let connectionURL: String
    /// The URL with its password replaced by `***`, for logs.
    public let maskedURL: String
    public let database: String

    public init(url: String) throws {
        guard let components = URLComponents(string: url),
            components.scheme == "postgresql" || components.scheme == "postgres"
        else {
            throw PostgresError(
                .invalidConfiguration,
                "expected a URL like postgresql://user:password@host:5432/database")
        }
        guard let host = components.host, !host.isEmpty || components.queryItems?.contains(where: { $0.name == "host" }) == true else {
            throw PostgresError(.invalidConfiguration, "the database URL has no host")
        }
        let database = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard !database.isEmpty else {
            throw PostgresError(.invalidConfiguration, "the database URL names no database (postgresql://host/DATABASE)")
        }
        self.url = url
        // A server that accepts the TCP connection but never answers (stopped, overloaded) must not hold a caller
        // forever: libpq gives up after `connect_timeout` seconds, 5 unless the URL says otherwise.
        if components.queryItems?.contains(where: { $0.name == "connect_timeout" }) == true {
            connectionURL = url
        } else {
            connectionURL = url + (components.query == nil ? "?" : "&") + "connect_timeout=5"
        }
        self.database = database
        var masked = components
        if masked.password != nil { masked.password = "***" }
        maskedURL = masked.string ?? "postgresql://***"
    }

    public var description: String { maskedURL }
}
