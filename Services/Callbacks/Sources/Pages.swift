import Foundation
import GreenlightModels
import HTTPTypes
import Hummingbird
import NIOCore
import Templates

/// The HTML pages approvers see, rendered from the `page-*` templates (built-in, or the operator's). Self-contained
/// (inline CSS, no external assets), readable on a phone.
struct Pages: Sendable {
    let templates: TemplateLibrary

    /// The review page a GET shows: details and the form (one decision's, or both for `/r/{token}`).
    /// Shown again after a form the request's rules refuse, with `errors` and what was `entered`.
    func review(
        _ decision: Decision?, token: TokenView, plainToken: String, errors: [String] = [], entered: [String: String] = [:]
    ) -> String {
        var values = PageValues(token)
        values.decision = decision.map(PageValues.Choice.init)
        values.errors = errors
        values.forms =
            if let decision {
                [PageValues.Form(decision, token: plainToken, commentId: "comment", content: token.content, entered: entered)]
            } else {
                Decision.allCases.map {
                    PageValues.Form($0, token: plainToken, commentId: "\($0.rawValue)-comment", content: token.content, entered: entered)
                }
            }
        return templates.render(.pageReview, values)
    }

    func decided(_ decision: Decision, token: TokenView) -> String {
        var values = PageValues(token)
        values.decision = PageValues.Choice(decision)
        return templates.render(.pageDecided, values)
    }

    /// "Decision received": what became of it is not known yet — the message broker is away and the decision is
    /// stored to be applied once it is back (`stored`), or the orchestrator has not said within the page's wait.
    /// Emailed to the approver when `emailed`.
    func received(_ decision: Decision, token: TokenView, stored: Bool, emailed: Bool) -> String {
        var values = PageValues(token)
        values.decision = PageValues.Choice(decision)
        values.stored = stored
        values.emailed = emailed
        return templates.render(.pageReceived, values)
    }

    /// A vote that is kept: the request still waits for other approvers.
    func voteRecorded(_ decision: Decision, token: TokenView, tally: (approvals: Int, needed: Int)) -> String {
        var values = PageValues(token)
        values.decision = PageValues.Choice(decision)
        values.approvals = tally.approvals
        values.needed = tally.needed
        return templates.render(.pageVoteRecorded, values)
    }

    /// The requester tried to decide their own request.
    func fourEyes(_ token: TokenView) -> String {
        templates.render(.pageFourEyes, PageValues(token))
    }

    /// Any other refusal, with the orchestrator's reason.
    func notApplied(_ token: TokenView, reason: String) -> String {
        var values = PageValues(token)
        values.reason = reason
        return templates.render(.pageNotApplied, values)
    }

    func alreadyDecided(_ token: TokenView) -> String {
        templates.render(.pageAlreadyDecided, PageValues(token))
    }

    func expired(_ token: TokenView) -> String {
        templates.render(.pageExpired, PageValues(token))
    }

    var unknown: String { templates.render(.pageUnknownLink, PageValues()) }

    var unavailable: String { templates.render(.pageUnavailable, PageValues()) }

    var formRefused: String { templates.render(.pageFormRefused, PageValues()) }

    func tooManyRequests(retryAfter seconds: Int) -> String {
        var values = PageValues()
        values.retryAfter = seconds
        return templates.render(.pageTooManyRequests, values)
    }

    /// One of a request's rules a form broke, as a sentence for the page ("Risk: is required").
    static func sentence(_ problem: Problem.FieldError, content: RequestContent) -> String {
        let name = problem.field.hasPrefix("response.") ? String(problem.field.dropFirst("response.".count)) : nil
        let label = name.map { content.responseSchema?.properties[$0]?.label($0) ?? $0 } ?? "Reason"
        return "\(label): \(problem.message)"
    }

    /// Every page goes out with these headers: the token is in the URL, so no referrer and no caching.
    static func response(_ html: String, status: HTTPResponse.Status, extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .contentSecurityPolicy:
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            .referrerPolicy: "no-referrer",
            .xContentTypeOptions: "nosniff",
            .cacheControl: "no-store",
        ]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }
}

extension HTTPField.Name {
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    /// Set by browsers on every request: how the page that sent it relates to us (`same-origin`, `cross-site`, …).
    static let secFetchSite = Self("Sec-Fetch-Site")!
}
