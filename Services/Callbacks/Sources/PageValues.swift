import Foundation
import GreenlightModels

/// What a page template is given (`{{request.id}}`, `{{#decision.approve}}`…). Pages about a link's request get the
/// request, its approver, policy and status; the rest is set by the pages that use it. Facts only: the words are the
/// templates', so that an operator's templates can say everything their own way.
struct PageValues {
    /// `{{request.id}}`, `{{request.amount}}`…: the request as people read it.
    struct Request {
        var id: String
        var description: String
        var amount: String
        var requester: String
        var submitted: String
        var expires: String
    }

    /// `{{#policy.all}}`: every approver must approve; `{{policy.quorum}}` approvals of `{{policy.approvers}}`.
    struct Policy {
        var all: Bool
        var quorum: Int?
        var approvers: Int
    }

    /// `{{#decision.approve}}` or `{{#decision.reject}}`.
    struct Choice {
        var approve: Bool
        var reject: Bool

        init(_ decision: Decision) {
            approve = decision == .approve
            reject = decision == .reject
        }
    }

    /// Exactly one is true.
    struct Status {
        var pending, approved, rejected, timedOut, failed, cancelled: Bool

        init(_ status: ApprovalStatus) {
            pending = status == .pending
            approved = status == .approved
            rejected = status == .rejected
            timedOut = status == .timedOut
            failed = status == .failed
            cancelled = status == .cancelled
        }
    }

    /// One decision's form on the review page.
    struct Form {
        /// `approve` or `reject`: the path it posts to and its `decision` field.
        var decision: String
        var approve: Bool
        var token: String
        /// The `confirm` field, bound to the token.
        var proof: String
        var commentId: String

        init(_ decision: Decision, token: String, commentId: String) {
            self.decision = decision.rawValue
            approve = decision == .approve
            self.token = token
            proof = LinkToken.formProof(for: token)
            self.commentId = commentId
        }
    }

    var request: Request?
    var approver: String?
    var policy: Policy?
    var status: Status?
    /// The request ended because its deadline passed with nobody deciding.
    var endedByDeadline = false
    var decision: Choice?
    var forms: [Form] = []
    /// `page-received`: the decision is stored while the broker is away; the result will be emailed.
    var stored = false
    var emailed = false
    /// `page-vote-recorded`: approvals so far, of those needed.
    var approvals: Int?
    var needed: Int?
    /// `page-not-applied`: the orchestrator's reason.
    var reason: String?
    /// `page-already-decided`: who decided and when (UTC), when known.
    var decidedBy: String?
    var decidedAt: String?
    /// `page-too-many-requests`: seconds until the address may open links again.
    var retryAfter: Int?

    /// A page that is about no request.
    init() {}

    /// A page about a link's request.
    init(_ token: TokenView) {
        request = Request(
            id: token.requestId, description: token.description,
            amount: HumanFormat.amount(token.amount, currency: token.currency),
            requester: token.requester ?? "an automated system", submitted: HumanFormat.utc(token.submittedAt),
            expires: HumanFormat.utc(token.expiresAt))
        approver = token.approver
        switch token.policy {
        case .any: policy = Policy(all: false, quorum: nil, approvers: token.approverCount)
        case .all: policy = Policy(all: true, quorum: nil, approvers: token.approverCount)
        case .quorum(let count): policy = Policy(all: false, quorum: count, approvers: token.approverCount)
        }
        status = Status(token.status)
        endedByDeadline = token.endedByDeadline
        decidedBy = token.decidedBy
        decidedAt = token.decidedAt.map(HumanFormat.utc)
    }
}
