import Foundation

/// A program's command to a callback, through the callback API or straight onto `approvals.decisions`
/// (mirrors SendDurableExecutionCallbackSuccess / Failure / Heartbeat).
public struct CallbackCommand: GreenlightEvent {
    public static let eventType = "CallbackCommand"
    public static let topic = Topic.decisions

    public enum Command: String, Codable, Sendable {
        case success
        case failure
        case heartbeat
    }

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var callbackId: UUID
    public var command: Command
    /// The success payload. For approvals: `{"decision": "approved" | "rejected", "approver": …, "comment": …}`.
    public var result: JSONValue?
    public var errorType: String?
    public var errorMessage: String?
    public var submittedAt: Date

    public init(
        eventId: UUID = UUID(), requestId: String, callbackId: UUID, command: Command, result: JSONValue? = nil,
        errorType: String? = nil, errorMessage: String? = nil, submittedAt: Date
    ) {
        self.eventId = eventId
        self.requestId = requestId
        self.callbackId = callbackId
        self.command = command
        self.result = result
        self.errorType = errorType
        self.errorMessage = errorMessage
        self.submittedAt = submittedAt
    }
}
