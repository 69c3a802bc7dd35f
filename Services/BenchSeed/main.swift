import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Logging
import Orchestrator
import Postgres

// Seeds suspended approval workflows straight into the database, for the idle-memory benchmark:
//   greenlight-bench-seed <count>      (GREENLIGHT_DATABASE_URL names the database)
// Each is started by the real engine and workflow, exactly as the orchestrator would, then its notifications
// are marked sent so that nothing is left for an outbox relay to do.
let arguments = CommandLine.arguments
guard arguments.count == 2, let count = Int(arguments[1]), count > 0 else {
    FileHandle.standardError.write(Data("usage: greenlight-bench-seed <count>\n".utf8))
    exit(64)
}
var logger = Logger(label: "greenlight-bench-seed")
logger.logLevel = .warning
let url = ProcessInfo.processInfo.environment["GREENLIGHT_DATABASE_URL"] ?? "postgresql://greenlight@127.0.0.1:5432/greenlight"
let pool = PostgresPool(configuration: try PostgresConfiguration(url: url), maxConnections: 4, logger: logger)
try await GreenlightDatabase.migrate(pool, logger: logger)
// The seeded requests are never clicked, so any secret will do.
let workflow = ApprovalWorkflow(linkSecret: LinkSecret(UUID().uuidString + UUID().uuidString)!)
let engine = DurableEngine(workflows: [workflow], logger: logger)
let run = UUID().uuidString.prefix(8)
let batch = 500
let started = ContinuousClock.now
try await withThrowingTaskGroup(of: Void.self) { group in
    for worker in 0..<4 {
        group.addTask {
            for first in stride(from: worker * batch, to: count, by: 4 * batch) {
                try await pool.transaction { connection in
                    for index in first..<min(first + batch, count) {
                        let request = ApprovalRequested(
                            requestId: "IDLE-\(run)-\(index)", amount: Double(index), currency: "USD",
                            description: "Idle benchmark request \(index)", requester: nil,
                            approvers: ["idle@example.com"], timeoutSeconds: 2_592_000, submittedAt: Date())
                        try await engine.start(workflow, name: request.requestId, input: request, on: connection)
                    }
                }
            }
        }
    }
    try await group.waitForAll()
}
try await pool.query("UPDATE durable_outbox SET sent_at = now() WHERE sent_at IS NULL")
let elapsed = ContinuousClock.now - started
print("seeded \(count) suspended executions in \(elapsed)")
pool.close()
