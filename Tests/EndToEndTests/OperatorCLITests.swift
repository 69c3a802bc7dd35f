import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Testing

/// The `greenlight` operator CLI, run as a process against the running services: every command, its output
/// and its exit status.
@Suite(.timeLimit(.minutes(3)))
struct OperatorCLITests {
    static let key = "e2e-cli-key-0123456789"

    struct Run {
        var status: Int32
        var output: String
    }

    /// Runs `greenlight` with the stack's addresses in its environment.
    static func greenlight(_ arguments: [String], stack: ServiceStack, environment extra: [String: String] = [:]) async throws
        -> Run
    {
        let log = "\(stack.logDirectory)/cli-\(UUID().uuidString.prefix(8)).log"
        let environment = [
            "GREENLIGHT_INTAKE_URL": stack.intakeURL, "GREENLIGHT_API_KEY": key,
            "GREENLIGHT_KAFKA_BROKERS": stack.cluster.bootstrapServers,
        ].merging(extra) { _, new in new }
        let process = try await ChildProcess(
            name: "greenlight", executable: "\(try ServiceStack.executableDirectory())/greenlight", arguments: arguments,
            environment: environment, logPath: log)
        let status = await process.waitForExit()
        return Run(status: status, output: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    @Test func everyCommandAgainstTheRunningServices() async throws {
        try await ServiceStack.with(environment: ["GREENLIGHT_API_KEYS": Self.key]) { stack in
            func cli(_ arguments: String..., environment: [String: String] = [:]) async throws -> Run {
                try await Self.greenlight(arguments, stack: stack, environment: environment)
            }
            let prefix = TestEnvironment.uniqueName("CLI")
            let (approveId, cancelId) = ("\(prefix)-A", "\(prefix)-B")
            for id in [approveId, cancelId] {
                #expect(
                    try await stack.submit(
                        #"{"requestId": "\#(id)", "amount": 5000, "description": "Operator test", "approvers": ["a@example.com"]}"#
                    ).status == 202)
                _ = try await stack.waitForMail(forRequest: id)
            }

            // status: a readable summary; --json for scripts; 2 when there is no such request.
            let status = try await cli("status", approveId)
            #expect(status.status == 0, "\(status.output)")
            #expect(status.output.contains("pending"))
            #expect(status.output.contains("USD 5,000.00"))
            #expect(status.output.contains("a@example.com"))
            let json = try await cli("status", approveId, "--json")
            let body = try GreenlightJSON.decode(RequestStatusBody.self, from: Data(json.output.utf8))
            #expect(body.requestId == approveId)
            #expect(body.callbackIds?.count == 1)
            #expect(try await cli("status", "\(prefix)-missing").status == 2)

            // pending: both, oldest first; none older than an hour; 77 without a key.
            let pending = try await cli("pending")
            #expect(pending.status == 0, "\(pending.output)")
            let approveLine = pending.output.range(of: approveId)
            let cancelLine = pending.output.range(of: cancelId)
            #expect(approveLine != nil && cancelLine != nil && approveLine!.lowerBound < cancelLine!.lowerBound)
            #expect(try await cli("pending", "--older-than", "1h").output.contains("No pending requests."))
            #expect(try await cli("pending", environment: ["GREENLIGHT_API_KEY": ""]).status == 77)

            // resend: the undecided approvers get their link again; status shows how each email fared.
            let resent = try await cli("resend", approveId)
            #expect(resent.status == 0, "\(resent.output)")
            #expect(resent.output.contains("Resend for \(approveId) queued."))
            try await waitUntil(timeout: .seconds(20)) { stack.mails(forRequest: approveId).count == 2 }
            #expect(stack.mails(forRequest: approveId).count == 2)
            try await waitUntil(timeout: .seconds(10)) {
                try await cli("status", approveId).output.contains("a@example.com request: delivered after 1 attempt")
            }
            #expect(try await cli("status", approveId).output.contains("a@example.com request: delivered after 1 attempt"))
            #expect(try await cli("resend", approveId, "--approver", "stranger@example.com").status == 1)

            // decide: the same path as a click, waits for the outcome; 3 once the request is decided.
            let decided = try await cli("decide", approveId, "--approve", "--as", "ops@example.com", "--comment", "Checked by phone")
            #expect(decided.status == 0, "\(decided.output)")
            #expect(decided.output.contains("\(approveId) approved by ops@example.com."))
            let outcome = try await stack.outcomes.waitFor(approveId)
            #expect(outcome.status == .approved)
            #expect(outcome.decidedBy == "ops@example.com")
            #expect(outcome.channel == .api)
            #expect(outcome.comment == "Checked by phone")
            let late = try await cli("decide", approveId, "--reject", "--as", "late@example.com")
            #expect(late.status == 3)
            #expect(late.output.contains("already approved"))
            #expect(try await cli("decide", approveId, "--as", "nobody@example.com").status == 64)

            // Under "all", one approver's decision is a vote: recorded, the request still pending.
            let voteId = "\(prefix)-V"
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(voteId)", "amount": 1, "description": "Two must agree", "approvers": ["a@example.com", "b@example.com"], "policy": "all"}"#
                ).status == 202)
            try await waitUntil(timeout: .seconds(20)) { stack.mails(forRequest: voteId).count == 2 }
            let vote = try await cli("decide", voteId, "--approve", "--as", "a@example.com")
            #expect(vote.status == 0, "\(vote.output)")
            #expect(vote.output.contains("Vote by a@example.com on \(voteId) recorded; it waits for more approvers (policy all)."))

            // history: the execution's events in order.
            let history = try await cli("history", approveId)
            #expect(history.status == 0, "\(history.output)")
            for type in ["ExecutionStarted", "CallbackStarted", "CallbackSucceeded", "ExecutionSucceeded"] {
                #expect(history.output.contains(type), "\(type) missing from:\n\(history.output)")
            }
            #expect(history.output.range(of: "ExecutionStarted")!.lowerBound < history.output.range(of: "ExecutionSucceeded")!.lowerBound)

            // cancel: the outcome says cancelled, with the reason.
            let cancelled = try await cli("cancel", cancelId, "--reason", "Raised twice")
            #expect(cancelled.status == 0, "\(cancelled.output)")
            #expect(cancelled.output.contains("\(cancelId) cancelled."))
            let cancelOutcome = try await stack.outcomes.waitFor(cancelId)
            #expect(cancelOutcome.status == .cancelled)
            #expect(cancelOutcome.errorMessage == "Raised twice")
            #expect(try await cli("cancel", cancelId).status == 3)

            // dlq list and replay: an unreadable event lands in the dead-letter topic; replaying it publishes
            // its original bytes to its original topic, where it is dead-lettered again (it is still unreadable).
            #expect(try await cli("dlq", "list").output.contains("No dead letters."))
            let producer = try KafkaProducer(
                configuration: KafkaConfiguration(bootstrapServers: stack.cluster.bootstrapServers),
                logger: TestEnvironment.logger("cli-poison"))
            try await producer.send(topic: Topic.requests.rawValue, key: "\(prefix)-poison", value: Array("not json at all".utf8))
            await producer.shutdown()
            var letters: [DeadLetter] = []
            try await waitUntil(timeout: .seconds(20), interval: .milliseconds(250)) {
                let listed = try await cli("dlq", "list", "--json")
                letters = (try? GreenlightJSON.decode([DeadLetter].self, from: Data(listed.output.utf8))) ?? []
                return letters.count == 1
            }
            let letter = try #require(letters.first)
            #expect(letter.topic == Topic.requests.rawValue)
            #expect(letter.key == "\(prefix)-poison")
            let table = try await cli("dlq", "list")
            #expect(table.output.contains(letter.eventId.uuidString))
            #expect(table.output.contains("approvals.requests["))

            let replayed = try await cli("dlq", "replay", letter.eventId.uuidString)
            #expect(replayed.status == 0, "\(replayed.output)")
            #expect(replayed.output.contains("Replayed dead letter \(letter.eventId) to approvals.requests"))
            let again = try await eventually(timeout: .seconds(20), interval: .milliseconds(250)) {
                let listed = try await cli("dlq", "list", "--json")
                letters = (try? GreenlightJSON.decode([DeadLetter].self, from: Data(listed.output.utf8))) ?? []
                return letters.count == 2
            }
            #expect(again, "the replayed event did not come back: \(letters)")
            #expect(Set(letters.map(\.payloadBase64)) == [letter.payloadBase64])
            #expect(try await cli("dlq", "replay", UUID().uuidString).status == 2)

            // 4, and a message saying what to check, when intake does not answer.
            let closed = "http://127.0.0.1:\(try freePort())"
            let unreachable = try await cli("status", approveId, environment: ["GREENLIGHT_INTAKE_URL": closed])
            #expect(unreachable.status == 4, "\(unreachable.output)")
            #expect(unreachable.output.contains(closed), "\(unreachable.output)")
        }
    }
}
