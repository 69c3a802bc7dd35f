import Foundation
import GreenlightModels
import Templates

/// What an email template is given (`{{request.id}}`, `{{#kind.reminder}}`…): facts only, the words are the
/// templates'. Read through the `Encodable` conformance the compiler writes (`TemplateFields`): a property's name is
/// its name in the templates.
struct EmailValues: TemplateFields {
    /// `{{request.id}}`, `{{request.amount}}`…: the request as people read it.
    struct Request: TemplateFields {
        var id: String
        var description: String
        /// Nil for a request without an amount.
        var amount: String?
        var requester: String
        /// `{{#request.title}}`, `{{#request.details}}{{label}} {{value}}{{/request.details}}`, `{{#request.links}}`,
        /// `{{#request.action}}{{tool}} {{arguments}} {{digest}}{{/request.action}}`: each absent when the request has
        /// none.
        var title: String?
        var details: [ContentDisplay.Row]
        var links: [ContentDisplay.Link]
        var action: ContentDisplay.Action?
        /// `{{#request.reasonOnReject}}`, `{{#request.reasonAlways}}`: which decisions must give a reason.
        var reasonOnReject: Bool
        var reasonAlways: Bool
        var submitted: String
        var expires: String
        /// How long until it expires, from when the email is made (`24 hours`).
        var remaining: String
    }

    /// Which email of the request this is: `{{#kind.request}}` (the first), `{{#kind.reminder}}`,
    /// `{{#kind.escalation}}`.
    struct Kind: TemplateFields {
        var request: Bool
        var reminder: Bool
        var escalation: Bool

        init(_ kind: NotificationKind) {
            // A receipt's own email is ReceiptEmail; should one reach an approval email, it is a plain request.
            request = kind == .request || kind == .receipt || kind == .delegated
            reminder = kind == .reminder
            escalation = kind == .escalation
        }
    }

    /// `{{#onTimeout.approve}}`: the deadline approves the request; otherwise it rejects it.
    struct OnTimeout: TemplateFields {
        var approve: Bool
    }

    var request: Request
    var approver: String
    var kind: Kind
    var onTimeout: OnTimeout
    var approveURL: String?
    var rejectURL: String?
    /// The receipt email's sentence on what became of the decision.
    var receipt: String?
    /// `{{#onBehalfOf}}`: the approver whose place this one is asked in, as their delegate.
    var onBehalfOf: String?
    /// The delegation notice's delegate.
    var delegate: String?

    init(_ notification: NotificationRequested, now: Date) {
        let shown = ContentDisplay(
            title: notification.title, details: notification.details, links: notification.links, action: notification.action)
        request = Request(
            id: notification.requestId, description: notification.description,
            amount: HumanFormat.amount(notification.amount, currency: notification.currency),
            requester: notification.requester ?? "an automated system", title: shown.title, details: shown.details,
            links: shown.links, action: shown.action, reasonOnReject: notification.requireReason == .reject,
            reasonAlways: notification.requireReason == .always,
            submitted: HumanFormat.utc(notification.submittedAt), expires: HumanFormat.utc(notification.expiresAt),
            remaining: HumanFormat.duration(from: now, to: notification.expiresAt))
        approver = notification.approver
        kind = Kind(notification.kind ?? .request)
        onTimeout = OnTimeout(approve: notification.onTimeout == .approve)
        onBehalfOf = notification.onBehalfOf
        delegate = notification.delegate
    }
}

extension TemplateLibrary {
    /// A subject template's output on one line, without surrounding spaces.
    func subject(_ name: TemplateName, _ values: Any) -> String {
        render(name, values).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }
}
