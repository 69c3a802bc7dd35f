import ApprovalStore
import Foundation
import GreenlightModels

/// What the inbox's templates are given (`{{email}}`, `{{#items}}`…). Facts only; the words are the templates'.
struct PortalValues {
    /// One request of the inbox (`inbox-item`, `inbox-request`).
    struct Item {
        var index: Int
        var request: PageValues.Request
        var policy: PageValues.Policy
        /// Approvals so far of those needed; nil when the first decision decides.
        var progress: Progress?
        /// It can be decided with others from the list (no typed answers, no reason it lacks).
        var bulk: Bool
        var asksAnswers: Bool
        var reasonOnReject: Bool
        var reasonAlways: Bool

        struct Progress {
            var approvals: Int
            var needed: Int
        }

        init(_ item: InboxItem, index: Int) {
            self.index = index
            let content = item.content
            let shown = ContentDisplay(title: content.title, details: content.details, links: content.links, action: content.action)
            request = PageValues.Request(
                id: item.requestId, description: item.description,
                amount: HumanFormat.amount(item.amount, currency: item.currency),
                requester: item.requester ?? "an automated system", submitted: HumanFormat.utc(item.submittedAt),
                expires: HumanFormat.utc(item.expiresAt), title: shown.title, details: shown.details, links: shown.links,
                action: shown.action)
            switch item.policy {
            case .any: policy = PageValues.Policy(all: false, quorum: nil, approvers: item.approverCount)
            case .all: policy = PageValues.Policy(all: true, quorum: nil, approvers: item.approverCount)
            case .quorum(let count): policy = PageValues.Policy(all: false, quorum: count, approvers: item.approverCount)
            }
            progress = item.approvalsNeeded.map { Progress(approvals: item.approvals, needed: $0) }
            asksAnswers = content.responseSchema != nil
            reasonOnReject = content.requireReason == .reject
            reasonAlways = content.requireReason == .always
            bulk = !asksAnswers && !reasonAlways
        }
    }

    /// What became of one decision sent from the inbox (`inbox-results`): exactly one of settled, vote, refused,
    /// received.
    struct Result {
        var requestId: String
        var decision: PageValues.Choice
        var settled = false
        var status: PageValues.Status?
        var vote = false
        var approvals: Int?
        var needed: Int?
        var refused = false
        var reason: String?
        var received = false
    }

    /// `inbox-delegation`: the person's delegation as stored (or just sent).
    struct DelegationShown {
        var delegate: String
        var instead: Bool
        var from: String
        var until: String?
        var reason: String?
        var setBy: String

        init(_ delegation: Delegation) {
            delegate = delegation.delegate
            instead = delegation.mode == .instead
            from = HumanFormat.utc(delegation.from)
            until = delegation.until.map(HumanFormat.utc)
            reason = delegation.reason
            setBy = delegation.setBy
        }
    }

    /// `inbox-delegation`: what was entered in the form, to show it again.
    struct DelegationForm {
        var delegate: String?
        var instead: Bool
        var until: String?
        var reason: String?

        init(_ entered: [String: String]) {
            delegate = entered["delegate"]
            instead = entered["mode"] == DelegationMode.instead.rawValue
            until = entered["until"]
            reason = entered["reason"]
        }
    }

    var email: String?
    var csrf: String?
    var isAdmin = false
    var notice: String?
    var items: [Item] = []
    var count = 0
    /// `inbox-request`: the one request, its forms and what was wrong with the last one.
    var request: PageValues.Request?
    var policy: PageValues.Policy?
    var progress: Item.Progress?
    var forms: [PageValues.Form] = []
    var errors: [String] = []
    var results: [Result] = []
    var one = false
    /// `portal-sign-in-confirm`: the link's token.
    var token: String?
    /// `portal-check-email`: how long a link works.
    var minutes: Int?
    var delegation: DelegationShown?
    var saved = false
    var cleared = false
    var entered = DelegationForm([:])

    init() {}

    init(_ session: PortalSession) {
        email = session.email
        csrf = session.csrfToken
        isAdmin = session.isAdmin
    }
}
