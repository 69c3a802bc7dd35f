import Foundation

/// Where the database is: a libpq connection URL such as
/// `postgresql://greenlight:secret@127.0.0.1:5432/greenlight?sslmode=disable`.
public struct PostgresConfiguration: Sendable, CustomStringConvertible {
    public let url: String
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
        self.database = database
        var masked = components
        if masked.password != nil { masked.password = "***" }
        maskedURL = masked.string ?? "postgresql://***"
    }

    public var description: String { maskedURL }
}
