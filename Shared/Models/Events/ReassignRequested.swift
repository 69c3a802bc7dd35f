import Foundation

/// Move a pending request from one approver to another (`POST /v1/requests/{id}/reassign`): the new approver takes
/// the old one's place under the policy and gets a link; the old approver's link (and their delegates') stops
/// counting. Topic `approvals.internal`.
public struct ReassignRequested: GreenlightEvent {
    public static let eventType = "ReassignRequested"
    public static let topic = Topic.internalCommands

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var from: String
    public var to: String
    public var reason: String?
    public var requestedAt: Date
    /// The name of the API key it came through.
    public var apiKey: String?

    public init(
        eventId: UUID = UUID(), requestId: String, from: String, to: String, reason: String? = nil, requestedAt: Date,
        apiKey: String? = nil
    ) {
        self.eventId = eventId
        self.requestId = requestId
        self.from = from
        self.to = to
        self.reason = reason
        self.requestedAt = requestedAt
        self.apiKey = apiKey
    }
}
