import Foundation

/// Send a pending request's approvers their link again (`POST /v1/requests/{id}/resend`). Topic
/// `approvals.internal`.
public struct ResendRequested: GreenlightEvent {
    public static let eventType = "ResendRequested"
    public static let topic = Topic.internalCommands

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    /// One approver; nil for every approver who has not decided.
    public var approver: String?
    public var requestedAt: Date
    /// The name of the API key the resend came through.
    public var apiKey: String?

    public init(eventId: UUID = UUID(), requestId: String, approver: String?, requestedAt: Date, apiKey: String? = nil) {
        self.apiKey = apiKey
        self.eventId = eventId
        self.requestId = requestId
        self.approver = approver
        self.requestedAt = requestedAt
    }
}
