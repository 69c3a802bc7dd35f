import Foundation
import GreenlightModels
import Templates

/// What a page template is given (`{{request.id}}`, `{{#decision.approve}}`…). Pages about a link's request get the
/// request, its approver, policy and status; the rest is set by the pages that use it. Facts only: the words are the
/// templates', so that an operator's templates can say everything their own way. Read through the `Encodable`
/// conformance the compiler writes (`TemplateFields`): a property's name is its name in the templates.
struct PageValues: TemplateFields {
    /// `{{request.id}}`, `{{request.amount}}`…: the request as people read it.
    struct Request: TemplateFields {
        var id: String
        var description: String
        /// Nil for a request without an amount.
        var amount: String?
        var requester: String
        var submitted: String
        var expires: String
        /// `{{#request.title}}`, `{{#request.details}}{{label}} {{value}}{{/request.details}}`,
        /// `{{#request.links}}{{url}} {{label}}{{/request.links}}`, `{{#request.action}}{{tool}} {{arguments}}
        /// {{digest}}{{/request.action}}`: each absent when the request has none.
        var title: String?
        var details: [ContentDisplay.Row]
        var links: [ContentDisplay.Link]
        var action: ContentDisplay.Action?
    }

    /// One typed answer's input on a decision form (`response.<name>`).
    struct Field: TemplateFields {
        /// Unique on the page.
        var id: String
        var name: String
        var label: String
        var description: String?
        var required: Bool
        /// Exactly one kind is true: free text, a choice (`options`), a number, a checkbox.
        var text: Bool
        var choice: Bool
        var number: Bool
        var checkbox: Bool
        var options: [Option]
        var maxLength: Int?
        var minLength: Int?
        var minimum: String?
        var maximum: String?
        /// `1` for integers, `any` for numbers.
        var step: String
        /// What was entered before, when the page is shown again with errors.
        var value: String?
        var checked: Bool

        struct Option: TemplateFields {
            var value: String
            var selected: Bool
        }

        init(name: String, field: ResponseField, required: Bool, formId: String, entered: [String: String]) {
            id = "\(formId)-response-\(name)"
            self.name = "response.\(name)"
            label = field.label(name)
            description = field.description
            self.required = required
            let previous = entered[self.name]
            value = previous
            checked = ["on", "true", "1", "yes"].contains(previous?.lowercased() ?? "")
            choice = field.enum != nil
            checkbox = field.type == .boolean
            number = !choice && (field.type == .number || field.type == .integer)
            text = !choice && !checkbox && !number
            options = (field.enum ?? []).map { value in
                let shown = value.stringValue ?? value.jsonText
                return Option(value: shown, selected: shown == previous)
            }
            maxLength = field.type == .string ? field.effectiveMaxLength : nil
            minLength = field.minLength
            minimum = field.minimum.map(JSONCanonical.number)
            maximum = field.maximum.map(JSONCanonical.number)
            step = field.type == .integer ? "1" : "any"
        }
    }

    /// `{{#policy.all}}`: every approver must approve; `{{policy.quorum}}` approvals of `{{policy.approvers}}`.
    struct Policy: TemplateFields {
        var all: Bool
        var quorum: Int?
        var approvers: Int
    }

    /// `{{#decision.approve}}` or `{{#decision.reject}}`.
    struct Choice: TemplateFields {
        var approve: Bool
        var reject: Bool

        init(_ decision: Decision) {
            approve = decision == .approve
            reject = decision == .reject
        }
    }

    /// Exactly one is true.
    struct Status: TemplateFields {
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
    struct Form: TemplateFields {
        /// `approve` or `reject`: the path it posts to and its `decision` field.
        var decision: String
        var approve: Bool
        var token: String
        /// The `confirm` field, bound to the token.
        var proof: String
        var commentId: String
        /// The request's typed answers (`responseSchema`), none when it asks for none.
        var fields: [Field]
        /// This decision must give its reason (`requireReason`): the comment is required.
        var reasonRequired: Bool
        /// The comment entered before, when the page is shown again with errors.
        var comment: String?

        init(
            _ decision: Decision, token: String, commentId: String, content: RequestContent = RequestContent(),
            entered: [String: String] = [:]
        ) {
            self.decision = decision.rawValue
            approve = decision == .approve
            self.token = token
            proof = LinkToken.formProof(for: token)
            self.commentId = commentId
            let formId = decision.rawValue
            fields = (content.responseSchema?.orderedFields ?? []).map { name, field in
                Field(
                    name: name, field: field, required: content.responseSchema?.required.contains(name) ?? false,
                    formId: formId, entered: entered)
            }
            reasonRequired = content.requireReason?.requires(decision) ?? false
            comment = entered["comment"]
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
    /// `page-review` shown again: what was wrong with the form, one sentence each.
    var errors: [String] = []

    /// A page that is about no request.
    init() {}

    /// A page about a link's request.
    init(_ token: TokenView) {
        let shown = ContentDisplay(
            title: token.content.title, details: token.content.details, links: token.content.links,
            action: token.content.action)
        request = Request(
            id: token.requestId, description: token.description,
            amount: HumanFormat.amount(token.amount, currency: token.currency),
            requester: token.requester ?? "an automated system", submitted: HumanFormat.utc(token.submittedAt),
            expires: HumanFormat.utc(token.expiresAt), title: shown.title, details: shown.details, links: shown.links,
            action: shown.action)
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
