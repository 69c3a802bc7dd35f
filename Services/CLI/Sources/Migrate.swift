import ApprovalStore
import ArgumentParser
import Callbacks
import Foundation
import Logging
import Postgres

/// `greenlight migrate`: brings the orchestrator's tables to this release's schema (what compose and the Kubernetes
/// job run once, before the services), and grants the role intake and the callback receiver connect as what they need.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring the database's schema to this release (the engine's and the approvals' tables).",
        discussion: """
            Connects to GREENLIGHT_DATABASE_URL (or --database-url) as a role that may change the schema. With \
            --grant-readers ROLE, also grants ROLE what intake and the callback receiver need and no more: SELECT \
            on the tables they read, INSERT on the outbox, and the inbox's own sign-in and session tables. Safe to \
            run again, and while services run.
            """)

    @Option(help: "The database, as a postgresql:// URL (default: GREENLIGHT_DATABASE_URL).")
    var databaseURL: String?

    @Option(name: .customLong("grant-readers"), help: "A role for intake and the callback receiver (repeatable).")
    var readers: [String] = []

    func run() async throws {
        try await reportingErrors {
            guard let url = databaseURL ?? ProcessInfo.processInfo.environment["GREENLIGHT_DATABASE_URL"], !url.isEmpty else {
                throw CLIError(.misconfigured, "no database: set GREENLIGHT_DATABASE_URL or pass --database-url")
            }
            let configuration: PostgresConfiguration
            do {
                configuration = try PostgresConfiguration(url: url)
            } catch {
                throw CLIError(.misconfigured, "GREENLIGHT_DATABASE_URL: \(error)")
            }
            var logger = Logger(label: "greenlight-migrate")
            logger.logLevel = .warning
            let pool = PostgresPool(configuration: configuration, maxConnections: 1, logger: logger)
            defer { pool.close() }
            do {
                try await GreenlightDatabase.migrate(pool, logger: logger)
                // The inbox's tables too: a callback receiver that may only read cannot create them itself.
                try await PortalSchema.migrate(pool, logger: logger)
                for role in readers { try await PortalSchema.grantAccess(to: role, on: pool) }
            } catch let error as InvalidRoleName {
                throw CLIError(.misconfigured, "--grant-readers: \(error)")
            } catch {
                throw CLIError(.unavailable, "could not migrate the database: \(error)")
            }
            print("The schema is current." + (readers.isEmpty ? "" : " Granted reader access to \(readers.joined(separator: ", "))."))
        }
    }
}
