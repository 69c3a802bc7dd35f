import DurableExecution
import Logging
import Postgres

/// The orchestrator's database: the durable engine's tables and the approval tables, which the orchestrator (or
/// `greenlight migrate`) owns and migrates. Intake and the callback receiver only read them (and add rows to the
/// outbox), with a role that may do no more (`grantReaderAccess`); the notifier owns a table of its own.
public enum GreenlightDatabase {
    /// Brings the schema up to date. Safe to run from several processes at once (the migrator holds an advisory lock).
    public static func migrate(_ pool: PostgresPool, logger: Logger) async throws {
        try await PostgresMigrator.migrate(
            pool, component: DurableSchema.component, migrations: DurableSchema.migrations, logger: logger)
        try await PostgresMigrator.migrate(
            pool, component: ApprovalSchema.component, migrations: ApprovalSchema.migrations, logger: logger)
    }

    /// Throws `SchemaNotCurrent` until the owner has migrated the schema to what this build reads.
    public static func requireCurrent(_ pool: PostgresPool, logger: Logger) async throws {
        try await PostgresMigrator.requireCurrent(pool, component: DurableSchema.component, migrations: DurableSchema.migrations)
        try await PostgresMigrator.requireCurrent(pool, component: ApprovalSchema.component, migrations: ApprovalSchema.migrations)
    }

    /// What intake and the callback receiver read: requests, links, decisions, votes and deliveries (of notifications
    /// and outcome webhooks), delegations and who stands in for whom, and the engine's executions, callbacks and history (status and history pages), and the
    /// outbox (to keep a request's events in order).
    static let readerTables = [
        "greenlight_migrations", "approval_requests", "link_tokens", "decision_attempts", "approval_votes",
        "notification_deliveries", "webhook_deliveries", "delegations", "approval_stand_ins", "durable_executions", "durable_callbacks", "durable_history",
        "durable_history_pages", "durable_history_events", "durable_outbox",
    ]

    /// Names that mean more than one role (`public`: every role) or whoever is connected: never granted to.
    static let reservedRoleNames: Set<String> = ["public", "current_user", "session_user", "current_role", "user", "all", "none"]

    /// Grants `role` what intake and the callback receiver need and nothing more: `SELECT` on the tables they read,
    /// and `INSERT` on the outbox (where they store an event while the broker is away). No DDL, no other writes.
    public static func grantReaderAccess(to role: String, on pool: PostgresPool) async throws {
        guard let first = role.unicodeScalars.first, first == "_" || ("a"..."z").contains(first),
            role.unicodeScalars.allSatisfy({ $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }), role.count <= 63,
            !reservedRoleNames.contains(role)
        else { throw InvalidRoleName(role: role) }
        // Quoted, so that the name is only ever a role's name (never a keyword such as PUBLIC).
        let quoted = "\"\(role)\""
        try await pool.withConnection { connection in
            try await connection.execute(
                script: """
                    GRANT SELECT ON \(readerTables.joined(separator: ", ")) TO \(quoted);
                    GRANT INSERT ON durable_outbox TO \(quoted);
                    GRANT USAGE ON SEQUENCE durable_outbox_id_seq TO \(quoted);
                    """)
        }
    }
}

/// A role name `grantReaderAccess` will not put into SQL.
public struct InvalidRoleName: Error, CustomStringConvertible {
    public var role: String
    public var description: String {
        "\"\(role)\" is not a role name Greenlight grants to: name one role, in lower-case letters, digits and underscores (at most 63, not starting with a digit, not public or current_user)"
    }
}
