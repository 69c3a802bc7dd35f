import Foundation
import GreenlightClient
import GreenlightModels
import MCP

/// The tools `greenlight mcp` serves: an agent asks a human to approve a tool call (`request_approval`), then waits
/// for the decision (`wait_for_approval`) or looks at it (`approval_status`), and runs the call only if it was
/// approved with an `actionDigest` equal to its own digest of the call.
struct ApprovalTools: Sendable {
    /// The longest `wait_for_approval` call: under many MCP clients' own request timeouts when left at its default,
    /// and an agent that wants longer calls again while the status is `pending`.
    static let longestWaitSeconds = 300
    static let defaultWaitSeconds = 50

    let client: GreenlightClient

    // MARK: - Definitions

    static let definitions: [Tool] = [
        Tool(
            name: "request_approval",
            title: "Request a human's approval",
            description: """
                Ask a human to approve a tool call before you make it. Send the call as `action` ({tool, arguments}) \
                exactly as you will make it; the approver sees it as sent. Answers at once with the request's id and \
                the action's digest; then call wait_for_approval. Make the call only if the outcome's status is \
                "approved" and its actionDigest equals the actionDigest this tool returned.
                """,
            inputSchema: .object([
                "type": "object",
                "properties": .object([
                    "title": .object([
                        "type": "string", "maxLength": 200,
                        "description": "One line the approver reads first, e.g. \"Delete branch release-2025 of web\".",
                    ]),
                    "description": .object([
                        "type": "string", "maxLength": 2000,
                        "description": "Why the call is needed and what it will change.",
                    ]),
                    "details": .object([
                        "type": "object", "description": "Facts for the approver, shown as a table (a JSON object).",
                    ]),
                    "approvers": .object([
                        "type": "array", "items": .object(["type": "string", "format": "email"]), "minItems": 1,
                        "maxItems": 20,
                        "description": "Who may decide (email addresses); the deployment's default approver if left out.",
                    ]),
                    "timeoutSeconds": .object([
                        "type": "integer", "minimum": 1, "maximum": .int(ApprovalLimits.maxTimeoutSeconds),
                        "description": "How long the approvers have before the request times out (rejected); default a day.",
                    ]),
                    "action": .object([
                        "type": "object",
                        "properties": .object([
                            "tool": .object(["type": "string", "description": "The tool you will call."]),
                            "arguments": .object(["type": "object", "description": "The exact arguments you will pass."]),
                        ]),
                        "required": ["tool", "arguments"],
                        "additionalProperties": false,
                    ]),
                    "requestId": .object([
                        "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$",
                        "description": "An id of your own (asking again with it is harmless); generated if left out.",
                    ]),
                ]),
                "required": ["title", "action"],
                "additionalProperties": false,
            ]),
            annotations: .init(readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true)),
        Tool(
            name: "approval_status",
            title: "An approval request's status",
            description: """
                The request's state now: status (pending, approved, rejected, timed_out, cancelled, failed), who \
                decided and why (comment), the approver's typed answers (response) and the approved actionDigest.
                """,
            inputSchema: requestIdSchema(),
            annotations: .init(readOnlyHint: true, openWorldHint: true)),
        Tool(
            name: "wait_for_approval",
            title: "Wait for an approval decision",
            description: """
                Waits until a human decides the request (or it times out, or is cancelled), at most timeoutSeconds \
                (default \(defaultWaitSeconds), at most \(longestWaitSeconds)), and returns its state. If status is \
                still "pending", call again. Make the approved call only if status is "approved" and actionDigest \
                equals the one request_approval returned.
                """,
            inputSchema: requestIdSchema(extra: [
                "timeoutSeconds": .object([
                    "type": "integer", "minimum": 1, "maximum": .int(longestWaitSeconds),
                    "description": "The longest to wait, in seconds (default \(defaultWaitSeconds)).",
                ])
            ]),
            annotations: .init(readOnlyHint: true, openWorldHint: true)),
    ]

    static func requestIdSchema(extra: [String: Value] = [:]) -> Value {
        .object([
            "type": "object",
            "properties": .object(
                ["requestId": .object(["type": "string", "description": "The id request_approval returned."])]
                    .merging(extra) { first, _ in first }),
            "required": ["requestId"],
            "additionalProperties": false,
        ])
    }

    // MARK: - Calls

    /// What one tool call answers: a tool error (`isError`) for arguments or a refusal the agent can act on, so it
    /// reads the reason; a thrown `MCPError` only for a tool that does not exist.
    func call(_ name: String, arguments: [String: Value]) async throws -> CallTool.Result {
        let input = ToolInput(arguments)
        do {
            switch name {
            case "request_approval": return try Self.result(try await requestApproval(input))
            case "approval_status": return try Self.result(try await client.status(try input.requestId()))
            case "wait_for_approval":
                let seconds = try input.integer("timeoutSeconds", in: 1...Self.longestWaitSeconds) ?? Self.defaultWaitSeconds
                return try Self.result(try await client.waitForOutcome(try input.requestId(), timeout: .seconds(seconds)))
            default: throw MCPError.invalidParams("there is no tool \(name); the tools are request_approval, approval_status, wait_for_approval")
            }
        } catch let error as ToolInputError {
            return Self.failure(error.description, details: ["error": "invalidArguments", "field": .string(error.field)])
        } catch let error as GreenlightClientError {
            var details: [String: Value] = ["error": .string(error.code.rawValue)]
            if let status = error.status { details["httpStatus"] = .int(status) }
            if let problem = error.problem { details["problem"] = try Self.value(problem) }
            return Self.failure(error.description, details: details)
        }
    }

    /// The answer to request_approval: what to wait on, and the digest the approved outcome must carry.
    struct Requested: Codable {
        var requestId: String
        var status: String
        var statusUrl: String
        var actionDigest: String
        var next: String
    }

    func requestApproval(_ input: ToolInput) async throws -> Requested {
        let action = try input.action()
        let requestId = try input.string("requestId") ?? "mcp-\(UUID().uuidString.lowercased())"
        let title = try input.string("title")
        // The tool's schema leaves the description out of what it requires; intake requires one: the title then.
        let body = ApprovalRequestBody(
            requestId: requestId, description: try input.string("description") ?? title,
            approvers: try input.strings("approvers"),
            timeoutSeconds: try input.integer("timeoutSeconds", in: 1...ApprovalLimits.maxTimeoutSeconds),
            title: title, details: try input.object("details"), action: action)
        let accepted = try await client.submit(body)
        return Requested(
            requestId: accepted.requestId, status: "pending", statusUrl: accepted.statusUrl, actionDigest: action.digest,
            next: "Call wait_for_approval with this requestId. Make the call only if the outcome is approved with this actionDigest.")
    }

    // MARK: - Results

    /// A value as the result's text (JSON, as MCP asks of structured results) and as its structured content.
    static func result(_ value: some Encodable) throws -> CallTool.Result {
        let data = try GreenlightJSON.encode(value)
        return CallTool.Result(
            content: [.text(text: String(decoding: data, as: UTF8.self), annotations: nil, _meta: nil)],
            structuredContent: Optional(try JSONDecoder().decode(Value.self, from: data)), isError: false)
    }

    static func failure(_ message: String, details: [String: Value]) -> CallTool.Result {
        var structured = details
        structured["message"] = .string(message)
        return CallTool.Result(
            content: [.text(text: message, annotations: nil, _meta: nil)], structuredContent: Optional(Value.object(structured)),
            isError: true)
    }

    static func value(_ encodable: some Encodable) throws -> Value {
        try JSONDecoder().decode(Value.self, from: GreenlightJSON.encode(encodable))
    }
}
