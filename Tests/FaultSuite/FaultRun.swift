import Foundation
import GreenlightModels
import GreenlightTestSupport
import Logging
import Postgres

/// One fault: a fresh stack, the load with the fault inside it, the wait until everything accepted has ended and
/// nothing more is in flight, then the invariants.
struct FaultRun {
    let fault: Fault
    let scale: Scale
    let environment: FaultEnvironment
    let logger: Logger

    var timeoutSeconds: Int { scale.timeoutSeconds }

    func run() async throws -> FaultRow {
        // Every click comes from this one address: the per-address limit on link pages would refuse most of them.
        // A click's page waits for the verdict as long as it does for people (2 s), not as long as the tests' pages
        // do: under a fault the page says "received" (202) and the click is done.
        try await ServiceStack.with(
            environment: ["GREENLIGHT_LINK_RATE_LIMIT": "0", "GREENLIGHT_LINK_VERDICT_WAIT_MS": "2000"]
        ) { stack in
            let driver = try LoadDriver(
                stack: stack, prefix: "F\(UUID().uuidString.prefix(6))", decidedTimeout: 3600,
                timeoutTimeout: timeoutSeconds, logger: logger)
            async let load: Void = driver.run(count: scale.requests, over: scale.window)
            let timeline = try await fault.inject(into: stack, driver: driver, scale: scale, environment: environment, logger: logger)
            await load
            let accepted = driver.accepted

            // Everything accepted ends (the timeouts at their deadline), then nothing is left in flight: no outbox
            // row unpublished, no request that is to be emailed whose notification the notifier has not received
            // yet (a request decided at once, as a probe is, has its notification and its outcome published
            // together, so its outcome says nothing about its email; and the relay deletes a row once the broker has
            // it, so the outbox cannot tell a notification still on its way), no email unsent. Only then can nothing
            // more arrive twice, or late.
            let ended = try await eventually(timeout: .seconds(timeoutSeconds + 120), interval: .milliseconds(500)) {
                Set(stack.outcomes.all.map(\.requestId)).isSuperset(of: accepted.keys)
            }
            let pool = try stack.database.pool()
            defer { pool.close() }
            let emailed = accepted.filter { $0.value != .timeout }.map(\.key)
            let drained = try await eventually(timeout: .seconds(60), interval: .milliseconds(500)) {
                let left = try await pool.query(
                    """
                    SELECT (SELECT count(*) FROM durable_outbox WHERE sent_at IS NULL)
                         + (SELECT count(*) FROM unnest(\(emailed)::text[]) AS r(id)
                            WHERE NOT EXISTS (SELECT 1 FROM notifier_messages m WHERE m.request_id = r.id))
                         + (SELECT count(*) FROM notifier_messages WHERE status IN ('pending', 'sending'))
                    """
                ).column(Int.self).first ?? 1
                return left == 0
            }
            var checker = InvariantChecker(stack: stack, pool: pool, accepted: accepted)
            checker.crashWindowAllowance = timeline.notifierKills * 4  // GREENLIGHT_NOTIFIER_SENDERS' default
            let checkedAt = Date()
            let result = try await checker.check()
            await driver.shutdown()
            var notes = timeline.notes
            if result.crashWindowCopies > 0 {
                notes.append(
                    "\(result.crashWindowCopies) email copies from a notifier killed inside the crash window (same Message-ID)")
            }
            if !ended { notes.append("not every accepted request ended in time") }
            if !drained { notes.append("the outbox or the delivery queue never drained") }
            if let first = result.unexpected.first?.split(separator: " ").first.map(String.init) {
                let attempts = try await pool.query(
                    "SELECT channel || ' ' || accepted::text || ' ' || coalesce(reason, '') FROM decision_attempts WHERE request_id = \(first)"
                ).column(String.self)
                notes.append("\(first): decision attempts \(attempts), emails \(stack.mails(forRequest: first).count)")
            }
            if let missing = result.missingEmails.first {
                // Where the email stopped: still in the outbox (the relay deletes a row once the broker has it),
                // received by a notifier, or neither.
                let outbox = try await pool.query(
                    """
                    SELECT topic || ' unpublished since ' || created_at::text FROM durable_outbox
                    WHERE message_key = \(missing) ORDER BY id
                    """
                ).column(String.self)
                let queued = try await pool.query(
                    """
                    SELECT channel || ' ' || status || ' attempts ' || attempts || ' received ' || received_at::text
                           || ' finished ' || coalesce(finished_at::text, 'no') || ' ' || coalesce(last_error, '')
                    FROM notifier_messages WHERE request_id = \(missing)
                    """
                ).column(String.self)
                notes.append("\(missing): outbox \(outbox), notifier \(queued), checked at \(checkedAt), log \(stack.logDirectory)")
            }
            if !result.unexpected.isEmpty { notes.append("\(result.unexpected.count) ended otherwise than meant: \(result.unexpected.prefix(3))") }
            let unusual = driver.clickAnswers.filter { ![200, 202, 409].contains($0.key) }
            if !unusual.isEmpty { notes.append("link pages answered \(unusual.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }) and were retried") }
            if driver.refusedSubmissions > 0 { notes.append("\(driver.refusedSubmissions) submissions answered non-2xx and retried") }
            return FaultRow(fault: fault, result: result, recoveries: timeline.recoveries, notes: notes, settled: ended && drained)
        }
    }
}

/// One line of the fault table.
struct FaultRow: Codable, Sendable {
    var fault: String
    var description: String
    var requests = 0
    var lost = 0
    var duplicatedOutcomes = 0
    var duplicateEmails = 0
    var violations = 0
    var longestRecoverySeconds: Double?
    var notes: [String] = []
    var result: InvariantChecker.Result?
    var passed: Bool

    init(fault: Fault, result: InvariantChecker.Result, recoveries: [Duration], notes: [String], settled: Bool) {
        self.fault = fault.rawValue
        description = fault.summary
        requests = result.requests
        lost = result.lost.count
        duplicatedOutcomes = result.duplicatedOutcomes.count
        duplicateEmails = result.duplicateEmails
        violations = result.violations
        longestRecoverySeconds = recoveries.max().map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
        self.notes = notes
        self.result = result
        passed = settled && result.violations == 0
    }

    init(fault: Fault, failure: String) {
        self.fault = fault.rawValue
        description = fault.summary
        notes = [failure]
        passed = false
    }

    var line: String {
        let recovery = longestRecoverySeconds.map { String(format: "%.1f s", $0) } ?? "-"
        var text = "fault \(fault): \(passed ? "PASSED" : "FAILED") — \(requests) requests, \(lost) lost, "
            + "\(duplicatedOutcomes) duplicated outcomes, \(duplicateEmails) duplicate emails, longest recovery \(recovery)"
        if let result, result.violations > 0 {
            text += "\n  not terminal \(result.notTerminal.prefix(5)), mismatched \(result.mismatchedOutcomes.prefix(5)), "
                + "unaudited tokens \(result.unauditedTokens), missing emails \(result.missingEmails.prefix(5)), early \(result.early.prefix(5))"
        }
        for note in notes { text += "\n  \(note)" }
        return text
    }

    static func table(_ rows: [FaultRow]) -> String {
        var lines = [
            "| fault | requests | lost | duplicated outcomes | duplicate emails | longest recovery | invariants |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for row in rows {
            let recovery = row.longestRecoverySeconds.map { String(format: "%.1f s", $0) } ?? "-"
            lines.append(
                "| \(row.fault): \(row.description) | \(row.requests) | \(row.lost) | \(row.duplicatedOutcomes) | "
                    + "\(row.duplicateEmails) | \(recovery) | \(row.passed ? "all hold" : "\(row.violations) violated") |")
        }
        return lines.joined(separator: "\n")
    }
}
