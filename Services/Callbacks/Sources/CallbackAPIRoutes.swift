import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Hummingbird
import Logging
import NIOCore
import ServiceSupport

/// Where the receiver looks callbacks up.
public protocol CallbackReading: Sendable {
    func callback(_ callbackId: UUID) async throws -> (record: CallbackRecord, executionName: String)?
}

extension DurableReader: CallbackReading {}

/// Where the receiver looks up what a decision on a request must give (its reason rule and response schema).
public protocol DecisionRulesReading: Sendable {
    func decisionRules(requestId: String) async throws -> RequestContent?
}

extension ApprovalReader: DecisionRulesReading {}

/// The callback API for programs, mirroring SendDurableExecutionCallbackSuccess / Failure / Heartbeat:
/// `POST /v1/callbacks/{callbackId}/success|failure|heartbeat`, with an API key. The command travels on
/// `approvals.decisions` to the orchestrator, which applies it; 202 means it was queued.
public struct CallbackAPIRoutes: Sendable {
    let callbacks: any CallbackReading
    let publisher: any EventPublishing
    let apiKeys: APIKeys
    let now: @Sendable () -> Date
    /// The request's rules, checked for a decision sent to the approval's callback; nil checks none.
    let rules: (any DecisionRulesReading)?

    public static let maxBodyBytes = 64 * 1024
    /// The callback the approval workflow waits on; its success payload must say approved or rejected.
    public static let approvalCallbackName = "wait-for-approval"

    public init(
        callbacks: any CallbackReading, publisher: any EventPublishing, apiKeys: APIKeys,
        rules: (any DecisionRulesReading)? = nil, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.rules = rules
        self.callbacks = callbacks
        self.publisher = publisher
        self.apiKeys = apiKeys
        self.now = now
    }

    public func register(on router: Router<GreenlightRequestContext>) {
        for command in [CallbackCommand.Command.success, .failure, .heartbeat] {
            router.post(RouterPath("v1/callbacks/:callbackId/\(command.rawValue)")) { request, context in
                try await handle(command, request, context: context)
            }
        }
    }

    /// The state of a callback that has ended, in the 409 answer.
    public struct EndedCallback: Codable, Sendable {
        public var type = "https://greenlight.dev/problems/callback-ended"
        public var title = "Conflict"
        public var status = 409
        public var detail: String
        public var callbackId: UUID
        public var callbackStatus: String
        public var result: JSONValue?
        public var error: DurableError?
        public var endedAt: Date?
    }

    func handle(_ command: CallbackCommand.Command, _ request: Request, context: GreenlightRequestContext) async throws
        -> Response
    {
        let key = try apiKeys.require(.decide, request)
        guard let callbackId = UUID(uuidString: try context.parameters.require("callbackId")) else {
            throw Problem(title: "Not Found", status: 404, detail: "A callback id is a UUID such as 6F1C0B1E-….")
        }
        let found: (record: CallbackRecord, executionName: String)?
        let callbacks = self.callbacks
        do {
            found = try await withDeadline(AnswerBudget.read, "Looking up the callback") { try await callbacks.callback(callbackId) }
        } catch {
            context.logger.error("Callback look-up failed", metadata: ["error": "\(error)"])
            throw Problem(title: "Service Unavailable", status: 503, detail: "The callback store is not reachable. Retry shortly.")
        }
        guard let (callback, executionName) = found else {
            throw Problem(title: "Not Found", status: 404, detail: "No callback with id \(callbackId).")
        }
        guard callback.status == .started else {
            let ended = EndedCallback(
                detail: "Callback \(callbackId) has already ended (\(callback.status.rawValue)); nothing was changed.",
                callbackId: callbackId, callbackStatus: callback.status.rawValue,
                result: callback.result.flatMap { try? GreenlightJSON.decode(JSONValue.self, from: Data($0.utf8)) },
                error: callback.error, endedAt: callback.endedAt)
            return Response(
                status: .conflict, headers: [.contentType: Problem.mediaType],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: try GreenlightJSON.encode(ended))))
        }

        var request = request
        let body = try await request.collectBody(upTo: Self.maxBodyBytes)
        let event = try makeCommand(
            command, body: Data(buffer: body), callback: callback, executionName: executionName, apiKey: key?.name)
        // A decision through the approval's callback settles the request at once: the request's rules are checked here,
        // as the orchestrator checks every other decision.
        if command == .success, callback.name == Self.approvalCallbackName, let rules, let payload = event.result {
            let decision: ApprovalDecisionPayload
            do {
                decision = try GreenlightJSON.decode(ApprovalDecisionPayload.self, from: GreenlightJSON.encode(payload))
            } catch {
                let described = DecodingErrorDescription.describe(error)
                throw Problem.validation([.init(field: "body", message: "is not an approval decision: \(described)")])
            }
            let content: RequestContent?
            do {
                // Bounded, like every answer: a database that hangs gets the caller a 503 to retry.
                content = try await withDeadline(AnswerBudget.read, "Reading the request's rules") {
                    try await rules.decisionRules(requestId: executionName)
                }
            } catch {
                context.logger.error("Rules look-up failed", metadata: ["requestId": "\(executionName)", "error": "\(error)"])
                throw Problem(title: "Service Unavailable", status: 503, detail: "The request's rules could not be read. Retry shortly.")
            }
            let broken = (content ?? RequestContent()).check(decision.decision, comment: decision.comment, response: decision.response)
            guard broken.isEmpty else { throw Problem.decisionRules(broken) }
        }
        let publication: Publication
        do {
            publication = try await publisher.publish(event, trace: request.trace)
        } catch {
            context.logger.error("Could not publish CallbackCommand", metadata: ["callbackId": "\(callbackId)", "error": "\(error)"])
            throw Problem(title: "Service Unavailable", status: 503, detail: "The command could not be queued. Retry shortly.")
        }
        context.logger.info(
            "Callback command accepted",
            metadata: [
                "callbackId": "\(callbackId)", "requestId": "\(executionName)", "command": "\(command.rawValue)",
                "queued": "\(publication == .queued)",
            ])
        var answer: [String: JSONValue] = [
            "message": .string("Callback command accepted"), "callbackId": .string(callbackId.uuidString),
        ]
        if publication == .queued { answer["queued"] = .bool(true) }
        return try .json(answer, status: .accepted)
    }

    /// Checks the body for the command and builds the event; a bad body is a 400 naming what to fix.
    func makeCommand(
        _ command: CallbackCommand.Command, body: Data, callback: CallbackRecord, executionName: String, apiKey: String? = nil
    ) throws -> CallbackCommand {
        func parse() throws -> JSONValue {
            guard !body.isEmpty else { return .null }
            do {
                return try GreenlightJSON.decode(JSONValue.self, from: body)
            } catch {
                throw Problem(
                    type: "https://greenlight.dev/problems/malformed-json", title: "Malformed JSON", status: 400,
                    detail: "The body must be JSON.")
            }
        }
        switch command {
        case .heartbeat:
            return CallbackCommand(requestId: executionName, callbackId: callback.callbackId, command: .heartbeat, submittedAt: now())
        case .failure:
            let value = try parse()
            guard let errorType = value["errorType"]?.stringValue, !errorType.isEmpty else {
                throw Problem.validation([.init(field: "errorType", message: "is required (a string such as \"Approval.Denied\")")])
            }
            // Absent or a string, as the document says (a number or null is not taken for an empty message).
            let errorMessage = value["errorMessage"]
            if let errorMessage, errorMessage.stringValue == nil {
                throw Problem.validation([.init(field: "errorMessage", message: "must be a string, or left out")])
            }
            return CallbackCommand(
                requestId: executionName, callbackId: callback.callbackId, command: .failure, errorType: errorType,
                errorMessage: errorMessage?.stringValue ?? "", submittedAt: now())
        case .success:
            var value = try parse()
            if callback.name == Self.approvalCallbackName {
                guard case .object(var object) = value,
                    let decision = object["decision"]?.stringValue, ["approved", "rejected"].contains(decision)
                else {
                    throw Problem.validation([.init(field: "decision", message: "must be \"approved\" or \"rejected\"")])
                }
                for field in ["approver", "comment"] where object[field] != nil && object[field]?.stringValue == nil {
                    throw Problem.validation([.init(field: field, message: "must be a string, or left out")])
                }
                object["channel"] = .string(DecisionChannel.api.rawValue)
                object["decidedAt"] = .string(Timestamp.format(now()))
                if let apiKey { object["apiKey"] = .string(apiKey) } else { object["apiKey"] = nil }
                value = .object(object)
            }
            return CallbackCommand(
                requestId: executionName, callbackId: callback.callbackId, command: .success, result: value, submittedAt: now())
        }
    }
}
