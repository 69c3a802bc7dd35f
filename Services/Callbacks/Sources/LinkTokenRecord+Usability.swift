import ApprovalStore

extension LinkTokenRecord {
    /// Why a link can no longer decide.
    enum Unusable: Sendable, Equatable {
        /// Its request's deadline passed undecided, or the link itself expired.
        case expired
        /// It was used, or its request ended otherwise.
        case alreadyDecided
    }

    /// Why this link can no longer decide, or nil when it still can: the rules a click and a Slack button share,
    /// judged by the database's clock at the read. A link whose request's deadline passed undecided is expired,
    /// whatever the deadline made of it.
    var unusable: Unusable? {
        if usedAt == nil, endedByDeadline { return .expired }
        if usedAt != nil || status != .pending { return .alreadyDecided }
        if expiresAt <= readAt { return .expired }
        return nil
    }
}
