import Foundation

/// Stop a pending request (like StopDurableExecution). Topic `approvals.internal`.
public struct CancelRequested: GreenlightEvent {
    public static let eventType = "CancelRequested"
    public static let topic = Topic.internalCommands

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var reason: String?
    public var requestedAt: Date
    /// The name of the API key the cancellation came through.
    public var apiKey: String?

    public init(eventId: UUID = UUID(), requestId: String, reason: String?, requestedAt: Date, apiKey: String? = nil) {
        self.apiKey = apiKey
        self.eventId = eventId
        self.requestId = requestId
        self.reason = reason
        self.requestedAt = requestedAt
    }
}
