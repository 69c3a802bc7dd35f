import ApprovalStore
import Foundation
import GreenlightModels

/// What a `console-*` template is given. Facts only; the words are the templates'.
struct ConsoleValues {
    /// `{{operatorName}}`: who is signed in; nil on the sign-in page.
    var operatorName: String?
    /// `{{#csrf}}`: the hidden field every form carries, when the operator's credential needs one.
    var csrf: String?
    /// One sentence saying what the last action did (`?done=` after a POST).
    var notice: String?
    /// What was wrong with a form, one sentence each.
    var errors: [String] = []
    /// `console-sign-in`: why the request was not let in (403), or nil (401: no credential).
    var reason: String?
    /// `console-message`: a heading and a sentence (a request that does not exist, a store that does not answer).
    var heading: String?
    var message: String?

    // MARK: - The list

    struct Counts {
        var pending: Int
        var decidedToday: Int
        var deliveriesFailing: Int
        /// A number, or "unknown" when Kafka did not say in time.
        var lag: String
    }

    struct Option {
        var value: String
        var label: String
        var selected: Bool
    }

    /// The search form, as it was filled in.
    struct Filter {
        var text: String
        var approver: String
        var requester: String
        var from: String
        var to: String
        var statuses: [Option]
    }

    struct Row {
        var id: String
        var href: String
        var title: String?
        var description: String
        var amount: String?
        var status: String
        var approvers: String
        var requester: String
        var created: String
        var expires: String
    }

    var counts: Counts?
    var filter: Filter?
    var rows: [Row] = []
    var previous: String?
    var next: String?
    var page = 1

    // MARK: - One request

    var request: PageValues.Request?
    var status: String?
    var approvers: String?
    var policy: String?
    var pending = false
    var timeline: [ConsoleTimeline.Entry] = []
    var resendAction: String?
    var cancelAction: String?
    /// The cancel form's reason, as it was entered.
    var cancelReason: String?
    /// Whether the timeline shows the engine's own events (steps, invocations, waits) too.
    var engine = false
    var engineToggle: String?

    // MARK: - Dead letters

    struct Letter {
        var id: String
        var when: String
        var source: String
        var key: String
        var reason: String
        var size: String
        var replayAction: String
    }

    var letters: [Letter] = []
}

extension ConsoleValues.Row {
    init(_ body: RequestStatusBody) {
        id = body.requestId
        href = "/console/requests/" + ConsoleRoutes.pathSegment(body.requestId)
        title = body.title
        description = body.description
        amount = HumanFormat.amount(body.amount, currency: body.currency)
        status = ConsoleValues.words(body.status)
        approvers = body.approvers.joined(separator: ", ")
        requester = body.requester ?? "an automated system"
        created = HumanFormat.utc(body.submittedAt)
        expires = HumanFormat.utc(body.expiresAt)
    }
}

extension ConsoleValues {
    /// A status as the console shows it.
    static func words(_ status: ApprovalStatus) -> String {
        switch status {
        case .pending: "pending"
        case .approved: "approved"
        case .rejected: "rejected"
        case .timedOut: "timed out"
        case .failed: "failed"
        case .cancelled: "cancelled"
        }
    }

    /// The request's details as the link pages show them (the `page-details` partial).
    static func request(_ body: RequestStatusBody) -> PageValues.Request {
        let shown = ContentDisplay(title: body.title, details: body.details, links: body.links, action: body.action)
        return PageValues.Request(
            id: body.requestId, description: body.description,
            amount: HumanFormat.amount(body.amount, currency: body.currency),
            requester: body.requester ?? "an automated system", submitted: HumanFormat.utc(body.submittedAt),
            expires: HumanFormat.utc(body.expiresAt), title: shown.title, details: shown.details, links: shown.links,
            action: shown.action)
    }
}
