import ArgumentParser
import DurableExecution
import Foundation
import GreenlightModels

/// `greenlight`: the operator's command line. Requests are read and changed through intake's HTTP API (the same
/// paths as programs use); dead letters are read and replayed through Kafka.
public struct GreenlightCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "greenlight",
        abstract:
            "Look at and steer a running Greenlight: requests, decisions, cancellations, dead letters; serve agents over MCP.",
        discussion: """
            Settings come from options or the environment: GREENLIGHT_INTAKE_URL, GREENLIGHT_API_KEY (the secret of one \
            of intake's GREENLIGHT_API_KEYS, with the scope each command needs: read for status, history and pending; \
            decide for decide; admin for cancel and resend; submit and read for mcp), GREENLIGHT_KAFKA_BROKERS (dlq) and GREENLIGHT_DATABASE_URL (migrate).

            Exit status: 0 done; 1 failed; 2 not found; 3 conflict (the request is no longer pending); \
            4 a service is unavailable; 64 wrong usage; 77 the API key is missing, wrong, or lacks the scope.
            """,
        subcommands: [
            Status.self, History.self, Pending.self, Decide.self, Cancel.self, Resend.self, DeadLetters.self, Migrate.self,
            ServeMCP.self,
        ])

    public init() {}
}

// MARK: - Requests

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one request's state.")

    @Argument(help: "The request id.") var requestId: String
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            let data = try await connection.client().get("/v1/requests/\(IntakeClient.pathComponent(requestId))")
            if output.json { return printJSON(data) }
            print(Self.render(try decode(RequestStatusBody.self, from: data)))
        }
    }

    static func render(_ status: RequestStatusBody) -> String {
        var fields = Fields()
        fields.add("request", status.requestId)
        fields.add("status", status.status.rawValue)
        fields.add("title", status.title)
        fields.add("amount", HumanFormat.amount(status.amount, currency: status.currency))
        fields.add("description", status.description)
        if let details = status.details { fields.add("details", details.jsonText) }
        if let action = status.action { fields.add("action", "\(action.tool) \(action.arguments.jsonText)") }
        fields.add("action digest", status.actionDigest)
        if let response = status.response { fields.add("response", response.jsonText) }
        fields.add("requester", status.requester)
        fields.add("approvers", status.approvers.joined(separator: ", "))
        fields.add("submitted", timestamp(status.submittedAt))
        fields.add("expires", timestamp(status.expiresAt))
        fields.add("decided by", status.decidedBy)
        fields.add("decided at", status.decidedAt.map(timestamp))
        fields.add("channel", status.channel?.rawValue)
        fields.add("comment", status.comment)
        fields.add("completed", status.completedAt.map(timestamp))
        if let errorType = status.errorType { fields.add("error", "\(errorType): \(status.errorMessage ?? "")") }
        fields.add("execution", status.executionId.uuidString)
        if let callbackIds = status.callbackIds, !callbackIds.isEmpty {
            fields.add("callbacks", callbackIds.map(\.uuidString).joined(separator: ", "))
        }
        if let policy = status.policy { fields.add("policy", policy.description) }
        for vote in status.votes ?? [] {
            fields.add(
                "vote", "\(vote.approver) \(vote.decision.rawValue) (\(vote.channel.rawValue), \(timestamp(vote.decidedAt)))")
        }
        for notification in status.notifications ?? [] {
            var line = "\(notification.approver) \(notification.kind.rawValue): \(notification.result.rawValue)"
            line += " after \(notification.attempts) attempt\(notification.attempts == 1 ? "" : "s")"
            if let error = notification.error { line += " — \(error)" }
            fields.add("email", line)
        }
        return fields.rendered
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a request's execution history, oldest first.")

    @Argument(help: "The request id.") var requestId: String
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    struct Body: Decodable {
        var events: [HistoryEvent]
    }

    func run() async throws {
        try await reportingErrors {
            let data = try await connection.client().get("/v1/requests/\(IntakeClient.pathComponent(requestId))/history")
            if output.json { return printJSON(data) }
            var table = Table("#", "TIME", "EVENT", "DETAILS")
            for event in try decode(Body.self, from: data).events {
                table.add(String(event.id), timestamp(event.timestamp), event.type, Self.summary(event.details))
            }
            print(table.rendered)
        }
    }

    /// The details that say most, compactly: names, ids, errors, results.
    static func summary(_ details: [String: JSONValue]) -> String {
        let order = ["Name", "CallbackId", "Timeout", "Error", "Result", "Suspended", "Attempt"]
        let parts = order.compactMap { key -> String? in
            guard let value = details[key], value != .null else { return nil }
            return "\(key)=\(compact(value))"
        }
        let text = parts.joined(separator: " ")
        return text.count > 120 ? String(text.prefix(119)) + "…" : text
    }

    static func compact(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): return text
        case .number(let number): return number == number.rounded() ? String(Int64(number)) : String(number)
        case .bool(let flag): return String(flag)
        default: return (try? String(decoding: GreenlightJSON.encode(value), as: UTF8.self)) ?? ""
        }
    }
}

struct Pending: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List pending requests, oldest first (API key).")

    @Option(name: .customLong("older-than"), help: "Only requests submitted at least this long ago: 90s, 30m, 1h, 2d.")
    var olderThan: DurationArgument?
    @Option(help: "At most this many (1–1000).") var limit = 100
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            var path = "/v1/requests?status=pending&limit=\(limit)"
            if let olderThan { path += "&olderThanSeconds=\(olderThan.seconds)" }
            let data = try await connection.client().get(path)
            if output.json { return printJSON(data) }
            let requests = try decode(RequestListBody.self, from: data).requests
            guard !requests.isEmpty else { return print("No pending requests.") }
            let now = Date()
            var table = Table("REQUEST", "WAITING", "AMOUNT", "APPROVERS", "EXPIRES", "DESCRIPTION")
            for request in requests {
                table.add(
                    request.requestId, HumanFormat.duration(from: request.submittedAt, to: now),
                    HumanFormat.amount(request.amount, currency: request.currency) ?? "-",
                    request.approvers.joined(separator: ","), timestamp(request.expiresAt),
                    request.description.count > 60 ? String(request.description.prefix(59)) + "…" : request.description)
            }
            print(table.rendered)
        }
    }
}

struct Decide: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Approve or reject a pending request on someone's behalf (API key).",
        discussion: """
            The decision travels like a click on an emailed link (approvals.decisions, then the orchestrator), \
            recorded with --as as the decider and "api" as the channel. The command waits for the outcome; exit \
            status 3 means the request was decided otherwise first.
            """)

    enum Verdict: String, EnumerableFlag {
        case approve
        case reject
    }

    @Argument(help: "The request id.") var requestId: String
    @Flag(help: "The decision.") var verdict: Verdict
    @Option(name: .customLong("as"), help: "Who decides (recorded in the audit trail), e.g. ops@example.com.")
    var decidedBy: String
    @Option(help: "A comment for the record.") var comment: String?
    @Option(help: "Seconds to wait for the outcome (0: do not wait).") var wait = 15
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            let decision: GreenlightModels.Decision = verdict == .approve ? .approve : .reject
            // Done when the request is decided, or (under `all` or a quorum) when this approver's vote is in.
            let voter = decidedBy.lowercased()
            let voted: @Sendable (RequestStatusBody) -> Bool = { status in
                status.votes?.contains { $0.approver.lowercased() == voter } ?? false
            }
            guard
                let final = try await command(
                    "decision", on: requestId, body: DecisionRequestBody(decision: decision, decidedBy: decidedBy, comment: comment),
                    connection: connection, wait: wait, json: output.json, until: voted)
            else { return print("Decision on \(requestId) queued.") }
            if final.status == .pending {
                let needed = final.policy.map { " (policy \($0))" } ?? ""
                return output.json ? () : print("Vote by \(decidedBy) on \(requestId) recorded; it waits for more approvers\(needed).")
            }
            let wanted: ApprovalStatus = decision == .approve ? .approved : .rejected
            guard final.status == wanted, final.decidedBy == decidedBy else {
                throw CLIError(
                    .conflict,
                    "\(requestId) is \(final.status.rawValue)\(final.decidedBy.map { " by \($0)" } ?? ""); this decision was not applied")
            }
            if !output.json { print("\(requestId) \(final.status.rawValue) by \(decidedBy).") }
        }
    }
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop a pending request: its links stop working and the outcome says cancelled (API key).")

    @Argument(help: "The request id.") var requestId: String
    @Option(help: "Why; recorded as the outcome's errorMessage.") var reason: String?
    @Option(help: "Seconds to wait for the outcome (0: do not wait).") var wait = 15
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            guard
                let final = try await command(
                    "cancel", on: requestId, body: CancelRequestBody(reason: reason), connection: connection, wait: wait,
                    json: output.json)
            else { return print("Cancellation of \(requestId) queued.") }
            guard final.status == .cancelled else {
                throw CLIError(.conflict, "\(requestId) ended \(final.status.rawValue) before the cancellation reached it")
            }
            if !output.json { print("\(requestId) cancelled.") }
        }
    }
}

struct Resend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Email a pending request's undecided approvers (or one) their link again (API key).")

    @Argument(help: "The request id.") var requestId: String
    @Option(help: "Only this approver.") var approver: String?
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reportingErrors {
            _ = try await connection.client().post(
                "/v1/requests/\(IntakeClient.pathComponent(requestId))/resend", json: ResendRequestBody(approver: approver))
            print("Resend for \(requestId) queued\(approver.map { " (\($0))" } ?? "").")
        }
    }
}

/// POSTs `action` for a request, then, unless `wait` is 0, waits for its outcome (printed as JSON with `json`);
/// nil when not waiting.
func command(
    _ action: String, on requestId: String, body: some Encodable, connection: ConnectionOptions, wait: Int, json: Bool,
    until done: @Sendable (RequestStatusBody) -> Bool = { _ in false }
) async throws -> RequestStatusBody? {
    let client = connection.client()
    let path = "/v1/requests/\(IntakeClient.pathComponent(requestId))"
    _ = try await client.post("\(path)/\(action)", json: body)
    guard wait > 0 else { return nil }
    let final = try await waitForOutcome(client: client, path: path, seconds: wait, until: done)
    if json { print(String(decoding: try GreenlightJSON.encode(final), as: UTF8.self)) }
    return final
}

/// Polls the status until the request is no longer pending; exit status 4 if it still is after `seconds`.
func waitForOutcome(
    client: IntakeClient, path: String, seconds: Int, until done: (RequestStatusBody) -> Bool = { _ in false }
) async throws -> RequestStatusBody {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while true {
        let status = try decode(RequestStatusBody.self, from: try await client.get(path))
        if status.status != .pending || done(status) { return status }
        guard ContinuousClock.now < deadline else {
            throw CLIError(
                .unavailable,
                "\(status.requestId) is still pending after \(seconds) s: the command is queued, but is the orchestrator running?")
        }
        try await Task.sleep(for: .milliseconds(200))
    }
}

// MARK: - Helpers

func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
    do {
        return try GreenlightJSON.decode(type, from: data)
    } catch {
        throw CLIError(.failed, "intake's answer is not what this version of greenlight expects: \(error)")
    }
}

func printJSON(_ data: Data) {
    print(String(decoding: data, as: UTF8.self))
}

func timestamp(_ date: Date) -> String {
    date.formatted(.iso8601)
}
