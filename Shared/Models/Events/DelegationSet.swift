import Foundation

/// Set (or replace) an approver's delegation (`PUT /v1/delegations/{approver}`). Topic `approvals.internal`; keyed
/// by `delegation:` and the approver's address in lower case, so that one approver's changes apply in order.
public struct DelegationSet: GreenlightEvent {
    public static let eventType = "DelegationSet"
    public static let topic = Topic.internalCommands

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var delegation: Delegation
    /// The name of the API key it came through.
    public var apiKey: String?

    /// The message key (not in the JSON): delegations are not a request's, and one approver's stay in order.
    public var requestId: String { DelegationSet.key(approver: delegation.approver) }

    public init(eventId: UUID = UUID(), delegation: Delegation, apiKey: String? = nil) {
        self.eventId = eventId
        self.delegation = delegation
        self.apiKey = apiKey
    }

    /// The message key of an approver's delegation events.
    public static func key(approver: String) -> String { "delegation:\(approver.lowercased())" }
}

/// End an approver's delegation (`DELETE /v1/delegations/{approver}`). Topic `approvals.internal`, keyed like
/// `DelegationSet`. Requests already sent to the delegate stay with them until decided or reassigned.
public struct DelegationCleared: GreenlightEvent {
    public static let eventType = "DelegationCleared"
    public static let topic = Topic.internalCommands

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var approver: String
    /// Who cleared it: an API key's name, or a signed-in person's address.
    public var clearedBy: String
    public var clearedAt: Date
    public var apiKey: String?

    public var requestId: String { DelegationSet.key(approver: approver) }

    public init(eventId: UUID = UUID(), approver: String, clearedBy: String, clearedAt: Date, apiKey: String? = nil) {
        self.eventId = eventId
        self.approver = approver
        self.clearedBy = clearedBy
        self.clearedAt = clearedAt
        self.apiKey = apiKey
    }
}
