import ApprovalStore
import Logging
import Postgres

/// The callback receiver's own tables: the inbox's sign-in links and sessions, and the daily digest's runs. Only hashes of the tokens and
/// session ids are kept, and every time is the database's (`now()`).
///
/// The receiver migrates them at start when its role may (one role for everything, as compose and `scripts/dev`
/// run it); with a role that may only read the orchestrator's tables, `greenlight migrate --grant-readers ROLE`
/// migrates them and grants that role what the inbox needs on them, and the receiver waits for that.
public enum PortalSchema {
    public static let component = "portal"

    public static let tables = ["portal_sign_in_links", "portal_sessions", "portal_digests"]

    public static let migrations: [PostgresMigration] = [
        PostgresMigration(
            version: 1, name: "inbox sign-in links and sessions",
            sql: """
                -- A sign-in link, single use: consumed by setting used_at (only while unused and unexpired).
                CREATE TABLE portal_sign_in_links (
                    token_hash text PRIMARY KEY,
                    email      text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    expires_at timestamptz NOT NULL,
                    used_at    timestamptz
                );
                CREATE INDEX portal_sign_in_links_expiry ON portal_sign_in_links (expires_at);

                -- A signed-in browser. expires_at is the absolute end (kept through rotations); idle expiry counts
                -- from last_seen_at. A rotated session names the one it replaced, which lives on for a minute.
                CREATE TABLE portal_sessions (
                    id_hash      text PRIMARY KEY,
                    email        text NOT NULL,
                    csrf_token   text NOT NULL,
                    created_at   timestamptz NOT NULL DEFAULT now(),
                    last_seen_at timestamptz NOT NULL DEFAULT now(),
                    expires_at   timestamptz NOT NULL,
                    rotated_from text
                );
                CREATE INDEX portal_sessions_expiry ON portal_sessions (expires_at);
                """),
        PostgresMigration(
            version: 2, name: "the daily digest's runs",
            sql: """
                -- One row per UTC day the daily digest ran for. A receiver claims the day until claimed_until (a lease:
                -- if it dies, another takes the day over once the lease has run out) and marks it finished.
                CREATE TABLE portal_digests (
                    day           date PRIMARY KEY,
                    claimed_by    text NOT NULL,
                    claimed_until timestamptz NOT NULL,
                    finished_at   timestamptz,
                    recipients    integer
                );
                """),
    ]

    /// At the receiver's start: the orchestrator's schema must be current (it reads it); its own is migrated if
    /// its role may, otherwise it must have been (`greenlight migrate`).
    public static func prepare(_ pool: PostgresPool, logger: Logger) async throws {
        try await GreenlightDatabase.requireCurrent(pool, logger: logger)
        do {
            try await PostgresMigrator.requireCurrent(pool, component: component, migrations: migrations)
        } catch is SchemaNotCurrent {
            try await PostgresMigrator.migrate(pool, component: component, migrations: migrations, logger: logger)
        }
    }

    /// Brings the tables to this release (`greenlight migrate`).
    public static func migrate(_ pool: PostgresPool, logger: Logger) async throws {
        try await PostgresMigrator.migrate(pool, component: component, migrations: migrations, logger: logger)
    }

    /// Grants `role` (a name `GreenlightDatabase.grantReaderAccess` accepted) what the inbox does on its own tables.
    public static func grantAccess(to role: String, on pool: PostgresPool) async throws {
        try await GreenlightDatabase.grantReaderAccess(to: role, on: pool)
        try await pool.withConnection { connection in
            try await connection.execute(
                script: "GRANT SELECT, INSERT, UPDATE, DELETE ON \(tables.joined(separator: ", ")) TO \"\(role)\"")
        }
    }
}
