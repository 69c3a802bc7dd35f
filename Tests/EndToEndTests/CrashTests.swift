import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Postgres
import Testing

extension FaultInjection {
    /// The orchestrator and the notifier killed with SIGKILL again and again while requests, decisions and deadlines
    /// flow: afterwards every workflow has exactly one terminal state and exactly one outcome (by eventId; redeliveries
    /// counted), and every approver got its email exactly once (counted at the SMTP server).
    @Suite(.timeLimit(.minutes(5)))
    struct CrashTests {
        @Test func everyWorkflowEndsOnceAfterRepeatedKills() async throws {
            try await ServiceStack.with { stack in
                let total = 120
                let ids = (0..<total).map { "CRASH-\($0)-\(UUID().uuidString.prefix(6))" }
                let decisions = try KafkaProducer(
                    configuration: KafkaConfiguration(bootstrapServers: stack.cluster.bootstrapServers),
                    logger: TestEnvironment.logger("crash"))

                // Submit, decide half of them straight on Kafka (another system's decisions), let the rest time out,
                // and kill the orchestrator three times meanwhile.
                let load = Task {
                    for (index, id) in ids.enumerated() {
                        // The decided half gets a deadline no restart can outlast (a killed member's partitions move
                        // only after its session times out, 10 s): which of decision and deadline wins is then not a
                        // matter of timing. The other half times out after 4 s, kills or not.
                        let timeout = index % 2 == 0 ? 60 : 4
                        _ = try await stack.submit(
                            #"{"requestId": "\#(id)", "amount": \#(index), "description": "Crash test", "approvers": ["c@example.com"], "timeoutSeconds": \#(timeout)}"#)
                        if index % 2 == 0 {
                            let decision = DecisionSubmitted(
                                requestId: id, decision: index % 4 == 0 ? .approve : .reject, decidedBy: "system@example.com",
                                channel: .kafka, comment: nil, decidedAt: Date(), tokenHash: nil)
                            try await decisions.send(
                                topic: Topic.decisions.rawValue, key: id, value: Array(try GreenlightJSON.encode(decision)))
                        }
                    }
                }
                var kills = 0
                for round in 0..<5 {
                    try await Task.sleep(for: .milliseconds(1200))
                    try await stack.killAndRestart(round.isMultiple(of: 2) ? "orchestrator" : "notifier")
                    kills += 1
                }
                try await load.value
                await decisions.shutdown()

                let allEnded = try await eventually(timeout: .seconds(90), interval: .milliseconds(500)) {
                    Set(stack.outcomes.all.map(\.requestId)).isSuperset(of: ids)
                }
                #expect(allEnded, "outcomes for \(Set(stack.outcomes.all.map(\.requestId)).intersection(ids).count) of \(total)")
                try await Task.sleep(for: .seconds(1))

                let outcomes = stack.outcomes.all.filter { ids.contains($0.requestId) }
                let byRequest = Dictionary(grouping: outcomes, by: \.requestId)
                let distinctPerRequest = byRequest.mapValues { Set($0.map(\.eventId)).count }
                let distinct = Set(outcomes.map(\.eventId)).count
                let duplicates = outcomes.count - distinct
                print("crash test: \(total) requests, \(kills) SIGKILLs (orchestrator 3, notifier 2), \(distinct) distinct outcome events, \(duplicates) duplicate deliveries")
                #expect(distinctPerRequest.values.allSatisfy { $0 == 1 }, "a workflow emitted two different outcomes")
                #expect(distinct == total)

                let pool = try stack.database.pool()
                defer { pool.close() }
                let statuses = try await pool.query(
                    "SELECT status, count(*) FROM approval_requests GROUP BY status ORDER BY status"
                ).decode((String, Int).self)
                print("crash test: final states \(statuses.map { "\($0.0)=\($0.1)" }.joined(separator: " "))")
                #expect(statuses.map(\.1).reduce(0, +) == total)
                #expect(!statuses.contains { $0.0 == "pending" })
                // One email per approver: the outbox relay may publish a notification twice across a crash, and a
                // notifier may receive it twice; it is sent once.
                // (A 4-second deadline can pass while a killed notifier's claim runs out: no email is sent after it.)
                let emails = ids.map { stack.mails(forRequest: $0).count }
                print("crash test: emails per request: \(Dictionary(grouping: emails, by: { $0 }).mapValues(\.count))")
                #expect(emails.allSatisfy { $0 <= 1 }, "requests emailed twice: \(emails.filter { $0 > 1 }.count)")
                #expect(
                    emails.enumerated().allSatisfy { $0.offset % 2 == 1 || $0.element == 1 },
                    "requests with a minute to decide never emailed: \(emails.enumerated().filter { $0.offset % 2 == 0 && $0.element == 0 }.count)")
                for (requestId, events) in byRequest {
                    let expected: ApprovalStatus =
                        ids.firstIndex(of: requestId).map { $0 % 2 == 0 ? ($0 % 4 == 0 ? .approved : .rejected) : .timedOut } ?? .pending
                    #expect(events[0].status == expected, "\(requestId)")
                }
            }
        }
    }
}
