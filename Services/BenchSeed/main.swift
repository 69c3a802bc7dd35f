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
//   greenlight-bench-seed fire <count> [separate]
// seeds <count> requests whose deadline is one second away, waits for them all to fall due, then fires them as the
// orchestrator's four timer workers would, in batches of 100, and prints how fast, with this process's CPU and
// PostgreSQL's (every process named postgres) per timer. With `separate`, each timer's history, checkpoints and
// messages are written in its own savepoint rather than once for the batch (`writesTogether: false`).
let arguments = CommandLine.arguments
let firing = arguments.count >= 3 && arguments[1] == "fire"
let separate = firing && arguments.count == 4 && arguments[3] == "separate"
guard let count = Int(arguments[firing ? 2 : 1]), count > 0, firing ? arguments.count <= 4 : arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: greenlight-bench-seed <count> | greenlight-bench-seed fire <count> [separate]\n".utf8))
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
                            approvers: ["idle@example.com"], timeoutSeconds: firing ? 1 : 2_592_000, submittedAt: Date())
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
if firing {
    try await fireAll()
}
pool.close()

/// Fires every due timer with four workers, as the orchestrator's timer scheduler does, and prints the rate.
func fireAll() async throws {
    try await Task.sleep(for: .seconds(2))
    try await pool.query("VACUUM ANALYZE")
    let cpuBefore = (own: ownCPUSeconds(), postgres: postgresCPUSeconds())
    let firingStarted = Date()
    let fired = try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<4 {
            group.addTask {
                var fired = 0
                while true {
                    let result =
                        separate
                        ? try await pool.transaction { try await engine.fireDueTimers(limit: 100, on: $0, writesTogether: false) }
                        : try await engine.fireDueTimers(limit: 100, in: pool)
                    fired += result.count
                    if result.claimed == 0 { return fired }
                }
            }
        }
        return try await group.reduce(0, +)
    }
    let seconds = Date().timeIntervalSince(firingStarted)
    let own = ownCPUSeconds() - cpuBefore.own
    let postgres = postgresCPUSeconds() - cpuBefore.postgres
    print(
        """
        {"writes": "\(separate ? "separate" : "together")", "fired": \(fired), "seconds": \(rounded(seconds)), \
        "firedPerSecond": \(rounded(Double(fired) / seconds)), "cpuMsPerTimer": {"firing": \(rounded(own * 1000 / Double(fired))), \
        "postgres": \(rounded(postgres * 1000 / Double(fired)))}}
        """)
}

func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

/// This process's CPU time, user and system, in seconds.
func ownCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// The CPU time of every process named postgres, user and system, in seconds (from /proc).
func postgresCPUSeconds() -> Double {
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    var total = 0.0
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where entry.allSatisfy(\.isNumber) {
        guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")"), stat[..<close].hasSuffix("(postgres")
        else { continue }
        // After the name: state, ppid, ... utime is the 12th field after it, stime the 13th.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
        total += (user + system) / ticks
    }
    return total
}
