import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// The JSON Schemas in deploy/events (one per topic, the public event contracts) against the models module:
/// every event type, with every optional field set and with none, as the services encode it, must validate —
/// and since the schemas forbid properties they do not list, a field added to a model without documenting it
/// fails here too.
struct EventSchemaTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    static let at = Date(timeIntervalSince1970: 1_800_000_000.123)
    static let uuid = UUID(uuidString: "6F1C0B1E-2D3A-4B5C-8D9E-0F1A2B3C4D5E")!

    /// Every optional field of a request's content set.
    static let fullContent = RequestContent(
        title: "Deploy api 2.3", details: .object(["service": .string("api"), "replicas": .number(3)]),
        links: [RequestLink(url: "https://example.com/pr/1", label: "PR 1")], metadata: .object(["ticket": .string("OPS-1")]),
        responseSchema: ResponseSchema(
            properties: ["risk": ResponseField(type: .string, title: "Risk", enum: [.string("low"), .string("high")])],
            required: ["risk"]),
        requireReason: .reject,
        action: AgentAction(tool: "deploy", arguments: .object(["service": .string("api")])))

    static let samples: [Topic: [any Encodable & Sendable]] = [
        .requests: [
            ApprovalRequested(
                requestId: "REQ-001", amount: 5000, currency: "USD", description: "New server", requester: "it@example.com",
                approvers: ["a@example.com", "b@example.com"], timeoutSeconds: 86400, heartbeatTimeoutSeconds: 600,
                onTimeout: .approve, policy: .quorum(2), remindAfterSeconds: 3600, escalateAfterSeconds: 7200,
                escalateTo: ["boss@example.com"], notify: .webhook, submittedAt: at),
            ApprovalRequested(
                requestId: "REQ-003", amount: 1, currency: "USD", description: "All", requester: nil,
                approvers: ["a@example.com"], timeoutSeconds: 60, policy: .all, submittedAt: at),
            ApprovalRequested(
                requestId: "REQ-002", amount: 0, currency: "EUR", description: "Minimal", requester: nil,
                approvers: ["a@example.com"], timeoutSeconds: 1, submittedAt: at),
            {
                var request = ApprovalRequested(
                    requestId: "DEP-1", amount: nil, currency: nil, description: "Deploy api 2.3", requester: nil,
                    approvers: ["a@example.com"], timeoutSeconds: 60, submittedAt: at)
                request.content = fullContent
                request.callbackUrl = "https://hooks.example.com/greenlight"
                request.callbackSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
                request.callbackLifecycle = true
                return request
            }(),
        ],
        .decisions: [
            DecisionSubmitted(
                requestId: "REQ-001", decision: .approve, decidedBy: "a@example.com", channel: .link, comment: "ok",
                decidedAt: at, tokenHash: String(repeating: "ab", count: 32), clientAddress: "203.0.113.7",
                userAgent: "Mozilla/5.0"),
            DecisionSubmitted(
                requestId: "REQ-001", decision: .reject, decidedBy: "erp", channel: .kafka, comment: nil, decidedAt: at,
                tokenHash: nil),
            CallbackCommand(
                requestId: "REQ-001", callbackId: uuid, command: .success,
                result: .object(["decision": .string("approved"), "approver": .string("bot")]), submittedAt: at),
            CallbackCommand(
                requestId: "REQ-001", callbackId: uuid, command: .failure, errorType: "Bot.Error", errorMessage: "no",
                submittedAt: at),
            CallbackCommand(requestId: "REQ-001", callbackId: uuid, command: .heartbeat, submittedAt: at),
            DecisionReceiptRequested(
                requestId: "REQ-001", decisionEventId: uuid, approver: "a@example.com", decision: .approve, requestedAt: at),
            DecisionSubmitted(
                requestId: "REQ-001", decision: .approve, decidedBy: "a@example.com", channel: .api, comment: nil,
                decidedAt: at, tokenHash: nil, apiKey: "approval-bot"),
            DecisionSubmitted(
                requestId: "DEP-1", decision: .reject, decidedBy: "a@example.com", channel: .kafka, comment: "no",
                decidedAt: at, tokenHash: nil, response: .object(["risk": .string("high")])),
        ],
        .internalCommands: [
            CancelRequested(requestId: "REQ-001", reason: "duplicate", requestedAt: at),
            CancelRequested(requestId: "REQ-001", reason: nil, requestedAt: at),
            NotificationDelivery(
                requestId: "REQ-001", notificationId: uuid, approver: "a@example.com", kind: .reminder, result: .failed,
                attempt: 3, error: "SMTP 550", at: at),
            NotificationDelivery(
                requestId: "REQ-001", notificationId: uuid, approver: "a@example.com", kind: .request, result: .delivered,
                attempt: 1, error: nil, at: at),
            ResendRequested(requestId: "REQ-001", approver: "a@example.com", requestedAt: at),
            ResendRequested(requestId: "REQ-001", approver: nil, requestedAt: at, apiKey: "ops"),
            CancelRequested(requestId: "REQ-001", reason: nil, requestedAt: at, apiKey: "ops"),
            WebhookDelivery(
                requestId: "REQ-001", webhookId: "msg_0123", eventType: "ApprovalCompleted", attempt: 2, result: .retrying,
                statusCode: 500, error: "the receiver answered 500", at: at),
            WebhookDelivery(requestId: "REQ-001", webhookId: "msg_0123", attempt: 1, result: .failed, statusCode: nil, error: nil, at: at),
            DelegationSet(
                delegation: Delegation(
                    approver: "a@example.com", delegate: "b@example.com", mode: .instead, from: at, until: at + 86_400,
                    setBy: "ops", setAt: at, reason: "holiday"),
                apiKey: "ops"),
            DelegationSet(
                delegation: Delegation(
                    approver: "a@example.com", delegate: "b@example.com", mode: .also, from: at, until: nil, setBy: "ops",
                    setAt: at)),
            DelegationCleared(approver: "a@example.com", clearedBy: "ops", clearedAt: at, apiKey: "ops"),
            ReassignRequested(requestId: "REQ-001", from: "a@example.com", to: "c@example.com", reason: "left", requestedAt: at, apiKey: "ops"),
            ReassignRequested(requestId: "REQ-001", from: "a@example.com", to: "c@example.com", requestedAt: at),
        ],
        .notifications: [
            DigestRequested(
                email: "A@example.com", day: "2026-11-30",
                items: [
                    DigestRequested.Item(
                        requestId: "REQ-001", title: "New server", description: "New server", amount: 5000, currency: "USD",
                        requester: "it@example.com", expiresAt: at, approvals: 1, needed: 2),
                    DigestRequested.Item(
                        requestId: "DEP-1", title: nil, description: "Deploy", amount: nil, currency: nil, requester: nil,
                        expiresAt: at, approvals: nil, needed: nil),
                ],
                total: 30, requestedAt: at, expiresAt: at),
            SignInLinkRequested(
                email: "a@example.com", tokenNonce: uuid, linkKey: "0123456789ab", requestedAt: at, expiresAt: at),
            NotificationRequested(
                requestId: "REQ-001", executionId: uuid, approver: "a@example.com", tokenNonce: uuid, kind: .reminder, channel: .webhook,
                amount: 5000, currency: "USD", description: "New server", requester: "it@example.com", submittedAt: at,
                expiresAt: at, onTimeout: .approve),
            NotificationRequested(
                requestId: "REQ-001", executionId: uuid, approver: "a@example.com", tokenNonce: uuid,
                amount: 5000, currency: "USD", description: "New server", requester: nil, submittedAt: at, expiresAt: at),
            NotificationRequested(
                requestId: "REQ-001", executionId: uuid, approver: "a@example.com", tokenNonce: uuid, kind: .receipt,
                amount: 5000, currency: "USD", description: "New server", requester: nil, submittedAt: at, expiresAt: at,
                receipt: "Your vote to approve REQ-001 is recorded: 1 of 2 approvals so far."),
            {
                var notice = NotificationRequested(
                    requestId: "REQ-001", executionId: uuid, approver: "a@example.com", tokenNonce: uuid, kind: .delegated,
                    amount: 5000, currency: "USD", description: "New server", requester: nil, submittedAt: at, expiresAt: at)
                notice.delegate = "b@example.com"
                return notice
            }(),
            {
                var asked = NotificationRequested(
                    requestId: "REQ-001", executionId: uuid, approver: "b@example.com", tokenNonce: uuid,
                    amount: 5000, currency: "USD", description: "New server", requester: nil, submittedAt: at, expiresAt: at)
                asked.onBehalfOf = "a@example.com"
                return asked
            }(),
            {
                var request = ApprovalRequested(
                    requestId: "DEP-1", amount: nil, currency: nil, description: "Deploy", requester: nil,
                    approvers: ["a@example.com"], timeoutSeconds: 60, submittedAt: at)
                request.content = fullContent
                return NotificationRequested(
                    requestId: "DEP-1", executionId: uuid, approver: "a@example.com", tokenNonce: uuid, amount: nil,
                    currency: nil, description: "Deploy", requester: nil, submittedAt: at, expiresAt: at
                ).showing(request)
            }(),
            WebhookRequested(
                requestId: "REQ-001", executionId: uuid, webhookId: "msg_0123", url: "https://example.com/hook",
                secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", eventType: "ApprovalCompleted", body: "{}", createdAt: at,
                expiresAt: at),
            WebhookRequested(
                requestId: "REQ-001", executionId: uuid, webhookId: "msg_0124", url: "http://example.com/hook", secret: nil,
                eventType: "ApprovalLifecycle", body: "{}", createdAt: at, expiresAt: at),
        ],
        .outcomes: [
            ApprovalCompleted(
                requestId: "REQ-001", executionId: uuid, status: .approved, decidedBy: "a@example.com", decidedAt: at,
                channel: .link, comment: "ok",
                votes: [
                    ApprovalVote(
                        approver: "a@example.com", decision: .approve, channel: .link, comment: "ok", decidedAt: at,
                        clientAddress: "203.0.113.7", userAgent: "Mozilla/5.0"),
                    ApprovalVote(
                        approver: "ops@example.com", decision: .approve, channel: .api, comment: nil, decidedAt: at,
                        apiKey: "ops"),
                ], apiKey: "ops", completedAt: at),
            ApprovalCompleted(
                requestId: "REQ-001", executionId: uuid, status: .cancelled, decidedBy: nil, decidedAt: nil, channel: nil,
                comment: nil, errorType: "Execution.Stopped", errorMessage: "duplicate", completedAt: at),
            {
                var outcome = ApprovalCompleted(
                    requestId: "REQ-001", executionId: uuid, status: .approved, decidedBy: "b@example.com", decidedAt: at,
                    channel: .inbox, comment: nil,
                    votes: [
                        ApprovalVote(
                            approver: "b@example.com", decision: .approve, channel: .inbox, comment: nil, decidedAt: at,
                            onBehalfOf: "a@example.com")
                    ], completedAt: at)
                outcome.onBehalfOf = "a@example.com"
                return outcome
            }(),
            ApprovalCompleted(
                requestId: "REQ-001", executionId: uuid, status: .timedOut, decidedBy: nil, decidedAt: nil, channel: nil,
                comment: nil, completedAt: at),
            {
                let answers = JSONValue.object(["risk": .string("low")])
                var outcome = ApprovalCompleted(
                    requestId: "DEP-1", executionId: uuid, status: .rejected, decidedBy: "a@example.com", decidedAt: at,
                    channel: .api, comment: "too risky",
                    votes: [
                        ApprovalVote(
                            approver: "a@example.com", decision: .reject, channel: .api, comment: "too risky", decidedAt: at,
                            response: answers)
                    ], completedAt: at)
                outcome.title = fullContent.title
                outcome.metadata = fullContent.metadata
                outcome.response = answers
                outcome.actionDigest = fullContent.actionDigest
                return outcome
            }(),
        ],
        .lifecycle: [
            ApprovalLifecycle(requestId: "REQ-001", executionId: uuid, stage: .requested, at: at),
            ApprovalLifecycle(requestId: "REQ-001", executionId: uuid, stage: .notified, at: at, approvers: ["a@example.com"]),
            ApprovalLifecycle(
                requestId: "REQ-001", executionId: uuid, stage: .decided, at: at, decision: .approve,
                decidedBy: "a@example.com", channel: .link),
            ApprovalLifecycle(requestId: "REQ-001", executionId: uuid, stage: .completed, at: at, status: .approved),
            ApprovalLifecycle(requestId: "REQ-001", executionId: uuid, stage: .reminded, at: at, approvers: ["a@example.com"]),
            ApprovalLifecycle(requestId: "REQ-001", executionId: uuid, stage: .escalated, at: at, approvers: ["boss@example.com"]),
            ApprovalLifecycle(requestId: "REQ-001", executionId: uuid, stage: .expired, at: at),
            ApprovalLifecycle(
                requestId: "DEP-1", executionId: uuid, stage: .requested, at: at, metadata: fullContent.metadata),
            ApprovalLifecycle(requestId: "REQ-001", executionId: uuid, stage: .completed, at: at, status: .timedOut),
        ],
        .deadLetters: [
            DeadLetter(
                reason: "not JSON", topic: "approvals.requests", partition: 3, offset: 42, key: "REQ-001",
                payload: Array("garbage".utf8), deadLetteredAt: at),
            DeadLetter(
                reason: "not JSON", topic: "approvals.requests", partition: 0, offset: 0, key: nil, payload: [],
                deadLetteredAt: at),
            DeadLetter(
                reason: "too large", topic: "approvals.decisions", partition: 1, offset: 7, key: "REQ-001",
                payload: Array(repeating: 0x7b, count: DeadLetter.maxWholePayloadBytes + 1),
                headers: [("traceparent", Array("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".utf8)), ("empty", nil)],
                deadLetteredAt: at),
            DeadLetter(
                reason: "refused", topic: "approvals.decisions", partition: 1, offset: 8, key: "REQ-001", payload: [1, 2],
                deadLetteredAt: at
            ).withoutPayload(),
        ],
    ]

    static func validate(_ topic: Topic, _ events: [any Encodable & Sendable]) async throws -> (status: Int32, output: String) {
        let directory = TestEnvironment.scratchPath("event-schema-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var paths: [String] = []
        for (index, event) in events.enumerated() {
            let path = "\(directory)/\(topic.rawValue)-\(index).json"
            try GreenlightJSON.encode(event).write(to: URL(fileURLWithPath: path))
            paths.append(path)
        }
        let schema = root.appendingPathComponent("deploy/events/\(topic.rawValue).schema.json").path
        let log = "\(directory)/check.log"
        let status = try await ChildProcess.shell(
            "/usr/bin/python3 \(root.path)/scripts/check-event-schema \(schema) \(paths.joined(separator: " "))", logPath: log)
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    @Test func theSamplesCoverEveryLifecycleStage() {
        let stages = Set((Self.samples[.lifecycle] ?? []).compactMap { ($0 as? ApprovalLifecycle)?.stage })
        #expect(stages == Set(ApprovalLifecycle.Stage.allCases))
    }

    @Test(arguments: Topic.allCases)
    func everyEventTheModelsEncodeMatchesItsTopicsSchema(_ topic: Topic) async throws {
        let events = try #require(Self.samples[topic], "no samples for \(topic.rawValue)")
        let result = try await Self.validate(topic, events)
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func aFieldTheSchemaDoesNotDocumentIsRefused() async throws {
        struct Undocumented: Encodable, Sendable {
            var eventId = EventSchemaTests.uuid
            var type = "CancelRequested"
            var version = 1
            var requestId = "REQ-001"
            var requestedAt = EventSchemaTests.at
            var surprise = true
        }
        let result = try await Self.validate(.internalCommands, [Undocumented()])
        #expect(result.status == 1)
        #expect(result.output.contains("surprise"))
    }
}
