import Foundation
import Logging
import Postgres

/// A database of its own for one test or suite, created on the throwaway server scripts/test starts.
public struct TestDatabase: Sendable {
    public let url: String
    public let name: String
    let adminURL: String

    /// Creates a fresh, empty database; `variable` names the server's URL.
    public static func create(
        _ prefix: String = "test", serverVariable variable: String = "GREENLIGHT_TEST_DATABASE_URL"
    ) async throws -> TestDatabase {
        let adminURL = try TestEnvironment.required(variable)
        let name = TestEnvironment.uniqueName(prefix).replacingOccurrences(of: "-", with: "_")
        let admin = try await PostgresConnection.connect(PostgresConfiguration(url: adminURL))
        // CREATE DATABASE takes an identifier, which cannot be a bound parameter; `name` is ours (letters,
        // digits and underscores only).
        precondition(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" })
        try await admin.execute(script: "CREATE DATABASE \(name)")
        var components = URLComponents(string: adminURL)!
        components.path = "/\(name)"
        return TestDatabase(url: components.string!, name: name, adminURL: adminURL)
    }

    /// A login role of its own for this database, with no rights yet beyond connecting, and this database's URL as
    /// that role: what a least-privilege service connects as once something grants it what it needs.
    public func makeRole(_ suffix: String) async throws -> (role: String, url: String) {
        let role = "\(name)_\(suffix)"
        precondition(role.count <= 63 && role.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" })
        let admin = try await PostgresConnection.connect(PostgresConfiguration(url: adminURL))
        try await admin.execute(script: "CREATE ROLE \(role) LOGIN")
        var components = URLComponents(string: url)!
        components.user = role
        return (role, components.string!)
    }

    /// How many statements with this text the test server is running now (all databases).
    public static func activeStatements(like text: String) async throws -> Int {
        let admin = try await PostgresConnection.connect(PostgresConfiguration(url: try TestEnvironment.required("GREENLIGHT_TEST_DATABASE_URL")))
        return try await admin.query(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = \(text)"
        ).column(Int.self).first ?? 0
    }

    public func pool(maxConnections: Int = 4, logger: Logger = TestEnvironment.logger("test-db")) throws -> PostgresPool {
        PostgresPool(configuration: try PostgresConfiguration(url: url), maxConnections: maxConnections, logger: logger)
    }

    /// Takes this database away from its clients (`accepting: false`: new connections refused, open ones ended)
    /// or gives it back, as an outage of the server would, without touching the other tests' databases.
    public func setAcceptingConnections(_ accepting: Bool) async throws {
        let admin = try await PostgresConnection.connect(PostgresConfiguration(url: adminURL))
        try await admin.execute(script: "ALTER DATABASE \(name) WITH ALLOW_CONNECTIONS \(accepting)")
        if !accepting {
            _ = try await admin.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(name) AND pid <> pg_backend_pid()")
        }
    }

    /// Makes every new transaction on this database read-only (`default_transaction_read_only`), and ends the
    /// sessions open now so that their clients reconnect under the setting: what a server demoted to a standby by
    /// a failover answers to writes (SQLSTATE 25006). `false` gives writes back.
    public func setReadOnly(_ readOnly: Bool) async throws {
        let admin = try await PostgresConnection.connect(PostgresConfiguration(url: adminURL))
        try await admin.execute(script: "ALTER DATABASE \(name) SET default_transaction_read_only = \(readOnly ? "on" : "off")")
        _ = try await admin.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(name) AND pid <> pg_backend_pid()")
    }

    /// This database's URL with an `application_name`, to tell its connections apart in `pg_stat_activity`.
    public func url(applicationName: String) -> String {
        "\(url)\(url.contains("?") ? "&" : "?")application_name=\(applicationName)"
    }
}

extension PostgresPool {
    /// The tables of the current schema with a row whose text form contains `text` (any column).
    public func tablesContaining(_ text: String) async throws -> [String] {
        try await query(
            """
            SELECT table_name::text FROM information_schema.tables
            WHERE table_schema = current_schema() AND (xpath('/row/n/text()', query_to_xml(
                format('SELECT count(*) AS n FROM %I x WHERE x::text LIKE %L', table_name, '%' || \(text) || '%'),
                false, true, '')))[1]::text::int > 0
            ORDER BY 1
            """
        ).column(String.self)
    }
}
