import Logging

/// One schema change, applied once, in its own transaction.
public struct PostgresMigration: Sendable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Applies a component's migrations in version order and records each in `greenlight_migrations`. Idempotent,
/// and safe when several services start at once: the whole run holds a Postgres advisory lock.
public enum PostgresMigrator {
    /// The advisory lock every Greenlight migration run takes.
    static let lockKey: Int64 = 0x6772_6565_6e6c_6974  // "greenlit"

    /// Throws `SchemaNotCurrent` unless `component`'s schema has every one of `migrations` applied: for a service that
    /// reads a component's tables without owning them (and may not change the schema: it has no rights to).
    public static func requireCurrent(_ pool: PostgresPool, component: String, migrations: [PostgresMigration]) async throws {
        let needed = migrations.map(\.version).max() ?? 0
        let applied = try await pool.withConnection { connection -> Int in
            guard try await connection.query("SELECT to_regclass('greenlight_migrations') IS NOT NULL").column(Bool.self).first == true
            else { return 0 }
            return try await connection.query(
                "SELECT coalesce(max(version), 0) FROM greenlight_migrations WHERE component = \(component)"
            ).column(Int.self).first ?? 0
        }
        guard applied >= needed else { throw SchemaNotCurrent(component: component, applied: applied, needed: needed) }
    }

    /// Returns the versions it applied (empty when the schema was already current).
    @discardableResult
    public static func migrate(
        _ pool: PostgresPool, component: String, migrations: [PostgresMigration], logger: Logger
    ) async throws -> [Int] {
        try await pool.withConnection { connection in
            // A session-level lock: released explicitly below, or by the server if the connection dies.
            try await connection.query("SELECT pg_advisory_lock(\(lockKey))")
            do {
                let applied = try await apply(migrations, component: component, on: connection, logger: logger)
                try await connection.query("SELECT pg_advisory_unlock(\(lockKey))")
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))")
                throw error
            }
        }
    }

    private static func apply(
        _ migrations: [PostgresMigration], component: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Int] {
        try await connection.execute(
            script: """
                CREATE TABLE IF NOT EXISTS greenlight_migrations (
                    component  text        NOT NULL,
                    version    integer     NOT NULL,
                    name       text        NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (component, version)
                )
                """)
        let done = Set(
            try await connection.query(
                "SELECT version FROM greenlight_migrations WHERE component = \(component)"
            ).column(Int.self))
        var applied: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !done.contains(migration.version) {
            try await connection.execute(script: "BEGIN")
            do {
                try await connection.execute(script: migration.sql)
                try await connection.query(
                    """
                    INSERT INTO greenlight_migrations (component, version, name)
                    VALUES (\(component), \(migration.version), \(migration.name))
                    """)
                try await connection.execute(script: "COMMIT")
            } catch {
                try? await connection.execute(script: "ROLLBACK")
                throw error
            }
            logger.info(
                "Applied migration",
                metadata: ["component": "\(component)", "version": "\(migration.version)", "name": "\(migration.name)"])
            applied.append(migration.version)
        }
        return applied
    }
}

/// The database's schema is older than this build reads (or absent): its owner has not migrated it yet.
public struct SchemaNotCurrent: Error, CustomStringConvertible {
    public var component: String
    public var applied: Int
    public var needed: Int

    public var description: String {
        "the database's \(component) schema is at version \(applied) and this build needs \(needed): run `greenlight migrate` "
            + "(or start the orchestrator, which migrates it) against the same database"
    }
}
