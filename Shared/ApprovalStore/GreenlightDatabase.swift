import DurableExecution
import Logging
import Postgres

/// Brings a database to the schema every Greenlight service expects: the durable engine's tables, then the
/// approval tables. Safe to run from every service at once (the migrator holds an advisory lock).
public enum GreenlightDatabase {
    public static func migrate(_ pool: PostgresPool, logger: Logger) async throws {
        try await PostgresMigrator.migrate(
            pool, component: DurableSchema.component, migrations: DurableSchema.migrations, logger: logger)
        try await PostgresMigrator.migrate(
            pool, component: ApprovalSchema.component, migrations: ApprovalSchema.migrations, logger: logger)
    }
}
