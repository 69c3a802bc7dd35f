import ApprovalStore
import Foundation
import GreenlightModels
import HTTPTypes
import Hummingbird
import Templates

/// The inbox's HTML pages, from the `portal-*` and `inbox-*` templates, with the link pages' headers
/// (`Pages.response`: strict CSP, no referrer, no caching).
struct PortalPages: Sendable {
    let templates: TemplateLibrary

    func signIn(notice: String? = nil, email: String? = nil) -> String {
        var values = PortalValues()
        values.notice = notice
        values.email = email
        return templates.render(.portalSignIn, values)
    }

    func checkEmail(_ email: String, minutes: Int) -> String {
        var values = PortalValues()
        values.email = email
        values.minutes = minutes
        return templates.render(.portalCheckEmail, values)
    }

    func confirm(token: String) -> String {
        var values = PortalValues()
        values.token = token
        return templates.render(.portalSignInConfirm, values)
    }

    var linkSpent: String { templates.render(.portalLinkSpent, PortalValues()) }
    var formRefused: String { templates.render(.portalFormRefused, PortalValues()) }
    var disabled: String { templates.render(.portalDisabled, PortalValues()) }
    var notFound: String { templates.render(.inboxNotFound, PortalValues()) }

    func list(_ items: [InboxItem], session: PortalSession) -> String {
        var values = PortalValues(session)
        values.items = items.enumerated().map { PortalValues.Item($1, index: $0 + 1) }
        values.count = items.count
        return templates.render(.inboxList, values)
    }

    /// One request with its decision forms; shown again with `errors` and what was `entered`.
    func request(_ item: InboxItem, session: PortalSession, errors: [String] = [], entered: [String: String] = [:])
        -> String
    {
        var values = PortalValues(session)
        let shown = PortalValues.Item(item, index: 1)
        values.request = shown.request
        values.policy = shown.policy
        values.progress = shown.progress
        values.errors = errors
        values.forms = Decision.allCases.map { decision in
            // Only the form that was sent gets back what was entered in it.
            let mine = entered["decision"] == decision.rawValue ? entered : [:]
            return PageValues.Form(
                decision, token: "", commentId: "\(decision.rawValue)-comment", content: item.content, entered: mine)
        }
        return templates.render(.inboxRequest, values)
    }

    func results(_ results: [PortalValues.Result], session: PortalSession) -> String {
        var values = PortalValues(session)
        values.results = results
        values.count = results.count
        values.one = results.count == 1
        return templates.render(.inboxResults, values)
    }

    /// The person's delegation (`current`, or the one just `saved`) and the form that sets one; shown again with
    /// `errors` and what was `entered`.
    func delegation(
        _ current: Delegation?, session: PortalSession, saved: Bool = false, cleared: Bool = false, errors: [String] = [],
        entered: [String: String] = [:]
    ) -> String {
        var values = PortalValues(session)
        values.delegation = current.map(PortalValues.DelegationShown.init)
        values.saved = saved
        values.cleared = cleared
        values.errors = errors
        values.entered = PortalValues.DelegationForm(entered)
        return templates.render(.inboxDelegation, values)
    }

    static func redirect(to location: String, cookie: Cookie? = nil) -> Response {
        var response = Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
        if let cookie { response.setCookie(cookie) }
        return response
    }

    static func page(_ html: String, status: HTTPResponse.Status, cookie: Cookie? = nil, extra: HTTPFields = [:]) -> Response {
        var response = Pages.response(html, status: status, extra: extra)
        if let cookie { response.setCookie(cookie) }
        return response
    }
}
