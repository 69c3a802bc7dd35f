import Foundation

/// Whether a delegate is asked as well as the approver they stand in for, or in their place.
public enum DelegationMode: String, Codable, Sendable, CaseIterable {
    /// The delegate gets a link of their own and the approver keeps theirs; whichever decides first fills the
    /// approver's one place under the policy.
    case also
    /// Only the delegate gets a link; the approver is told and may still decide through the inbox.
    case instead
}

/// An approver's stand-in for a period (out of office): requests that reach the approver in that period also, or
/// instead, go to the delegate, whose decision counts in the approver's place ("B on behalf of A"). One per approver;
/// not transitive (a delegate's own delegation does not apply to what they receive as a delegate).
public struct Delegation: Codable, Sendable, Equatable {
    /// Whose requests (an email address; compared case-insensitively).
    public var approver: String
    /// Who stands in for them.
    public var delegate: String
    public var mode: DelegationMode
    /// From when (inclusive) until when (exclusive) it applies, by the database's clock; no `until`: until cleared.
    public var from: Date
    public var until: Date?
    /// Who set it: an API key's name, or a signed-in person's address.
    public var setBy: String
    public var setAt: Date
    public var reason: String?

    public init(
        approver: String, delegate: String, mode: DelegationMode, from: Date, until: Date?, setBy: String, setAt: Date,
        reason: String? = nil
    ) {
        self.approver = approver
        self.delegate = delegate
        self.mode = mode
        self.from = from
        self.until = until
        self.setBy = setBy
        self.setAt = setAt
        self.reason = reason
    }

    /// Whether it applies at `time`.
    public func isActive(at time: Date) -> Bool { from <= time && (until.map { time < $0 } ?? true) }
}

/// One person standing in for an approver on one request: by a delegation (`also`, `instead`). What the inbox reads
/// to list requests where the signed-in person is a delegate.
public struct StandIn: Codable, Sendable, Equatable {
    public var requestId: String
    /// Whose place.
    public var approver: String
    /// Who stands in.
    public var delegate: String
    public var mode: DelegationMode
    public var since: Date

    public init(requestId: String, approver: String, delegate: String, mode: DelegationMode, since: Date) {
        self.requestId = requestId
        self.approver = approver
        self.delegate = delegate
        self.mode = mode
        self.since = since
    }
}

/// The body of `PUT /v1/delegations/{approver}`.
public struct DelegationRequestBody: Codable, Sendable, Equatable {
    public var delegate: String
    /// `also` (the default) or `instead`.
    public var mode: DelegationMode?
    /// From when; absent: now.
    public var from: Date?
    /// Until when; absent: until cleared.
    public var until: Date?
    public var reason: String?

    public init(delegate: String, mode: DelegationMode? = nil, from: Date? = nil, until: Date? = nil, reason: String? = nil) {
        self.delegate = delegate
        self.mode = mode
        self.from = from
        self.until = until
        self.reason = reason
    }
}

extension DelegationRequestBody {
    /// What is wrong with this delegation of `approver`'s requests, asked at `now`: fields wrong on their own
    /// (`invalid`, a 400) and fields that do not fit together (`inconsistent`, a 422). The same rules hold for an
    /// operator's `PUT /v1/delegations/{approver}` and for an approver's own form in the inbox.
    public func problems(approver: String, at now: Date) -> (invalid: [Problem.FieldError], inconsistent: [Problem.FieldError]) {
        var invalid: [Problem.FieldError] = []
        if !EmailAddress.isValid(delegate) { invalid.append(.init(field: "delegate", message: "must be an email address")) }
        if let reason, reason.unicodeScalars.count > 500 {
            invalid.append(.init(field: "reason", message: "must be at most 500 characters"))
        }
        var inconsistent: [Problem.FieldError] = []
        if delegate.lowercased() == approver.lowercased() {
            inconsistent.append(.init(field: "delegate", message: "must be someone other than the approver"))
        }
        if let until, let from, until <= from { inconsistent.append(.init(field: "until", message: "must be after from")) }
        if let until, until <= now { inconsistent.append(.init(field: "until", message: "must be in the future")) }
        return (invalid, inconsistent)
    }

    /// The delegation this body sets for `approver`, by `setBy` (an API key's name or a signed-in address) at `now`.
    public func delegation(of approver: String, setBy: String, at now: Date) -> Delegation {
        Delegation(
            approver: approver, delegate: delegate, mode: mode ?? .also, from: from ?? now, until: until, setBy: setBy,
            setAt: now, reason: reason.flatMap { $0.isEmpty ? nil : $0 })
    }
}

/// The answer to `GET /v1/delegations`.
public struct DelegationListBody: Codable, Sendable, Equatable {
    public var delegations: [Delegation]

    public init(delegations: [Delegation]) {
        self.delegations = delegations
    }
}

/// The body of `POST /v1/requests/{requestId}/reassign`.
public struct ReassignRequestBody: Codable, Sendable, Equatable {
    /// The approver whose place moves.
    public var from: String
    /// Who takes it.
    public var to: String
    public var reason: String?

    public init(from: String, to: String, reason: String? = nil) {
        self.from = from
        self.to = to
        self.reason = reason
    }
}
