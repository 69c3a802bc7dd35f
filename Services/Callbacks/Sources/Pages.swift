import Foundation
import GreenlightModels
import HTTPTypes
import Hummingbird
import NIOCore

/// The HTML pages approvers see. Self-contained (inline CSS, no external assets), readable on a phone.
enum Page {
    static func layout(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="robots" content="noindex, nofollow">
        <title>\(htmlEscape(title)) · Greenlight</title>
        <style>
        body{margin:0;padding:24px 16px;background:#f4f5f7;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Arial,sans-serif;color:#1f2328}
        main{max-width:560px;margin:0 auto;background:#fff;border-radius:10px;padding:24px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
        h1{font-size:1.5rem;margin:0 0 12px} dl{display:grid;grid-template-columns:auto 1fr;gap:4px 16px;margin:16px 0}
        dt{font-weight:600} dd{margin:0;word-break:break-word} label{display:block;font-weight:600;margin:16px 0 4px}
        textarea{width:100%;box-sizing:border-box;min-height:80px;font:inherit;padding:8px;border:1px solid #8c959f;border-radius:6px}
        button{margin-top:16px;width:100%;padding:14px;font:inherit;font-weight:700;color:#fff;border:0;border-radius:8px;cursor:pointer}
        .approve{background:#1a7f37} .reject{background:#cf222e} .icon{font-size:3rem;line-height:1}
        .ok{color:#1a7f37} .bad{color:#cf222e} .muted{color:#57606a;font-size:.9rem}
        </style>
        </head>
        <body><main>
        \(body)
        </main></body>
        </html>
        """
    }

    static func details(_ token: TokenView) -> String {
        """
        <dl>
        <dt>Request</dt><dd>\(htmlEscape(token.requestId))</dd>
        <dt>Description</dt><dd>\(htmlEscape(token.description))</dd>
        <dt>Amount</dt><dd>\(htmlEscape(HumanFormat.amount(token.amount, currency: token.currency)))</dd>
        <dt>Requester</dt><dd>\(htmlEscape(token.requester ?? "an automated system"))</dd>
        <dt>Submitted</dt><dd>\(HumanFormat.utc(token.submittedAt))</dd>
        <dt>Expires</dt><dd>\(HumanFormat.utc(token.expiresAt))</dd>
        </dl>
        """
    }

    /// What the policy means for this approver, when it is not "the first decision decides".
    static func policyNote(_ token: TokenView) -> String {
        switch token.policy {
        case .any: return ""
        case .all:
            return "<p class=\"muted\">Every approver (\(token.approverCount)) must approve this request; any rejection rejects it.</p>"
        case .quorum(let count):
            return "<p class=\"muted\">\(count) of the \(token.approverCount) approvers must approve this request.</p>"
        }
    }

    /// One decision's form: it POSTs to that decision's path with a hidden field bound to the token.
    static func form(_ decision: Decision, plainToken: String, commentId: String) -> String {
        let verb = decision == .approve ? "Approve" : "Reject"
        return """
            <form method="post" action="/\(decision.rawValue)/\(htmlEscape(plainToken))">
            <input type="hidden" name="decision" value="\(decision.rawValue)">
            <input type="hidden" name="confirm" value="\(LinkToken.formProof(for: plainToken))">
            <label for="\(commentId)">Comment (optional)</label>
            <textarea id="\(commentId)" name="comment" maxlength="1000"></textarea>
            <button type="submit" class="\(decision == .approve ? "approve" : "reject")">\(verb) request</button>
            </form>
            """
    }

    /// The review page a GET shows: details and the form (one decision's, or both for `/r/{token}`).
    static func confirm(_ decision: Decision?, token: TokenView, plainToken: String) -> String {
        let heading: String
        let forms: String
        switch decision {
        case .approve?:
            heading = "Approve this request?"
            forms = form(.approve, plainToken: plainToken, commentId: "comment")
        case .reject?:
            heading = "Reject this request?"
            forms = form(.reject, plainToken: plainToken, commentId: "comment")
        case nil:
            heading = "Review this request"
            forms = form(.approve, plainToken: plainToken, commentId: "approve-comment")
                + form(.reject, plainToken: plainToken, commentId: "reject-comment")
        }
        return layout(
            title: "\(heading.replacingOccurrences(of: "?", with: "")) \(token.requestId)",
            body: """
                <h1>\(heading)</h1>
                <p class="muted">Signed in by link as \(htmlEscape(token.approver)). Nothing has been decided yet.</p>
                \(policyNote(token))
                \(details(token))
                \(forms)
                """)
    }

    static let formRefused = layout(
        title: "Form not accepted",
        body: """
            <h1>Form not accepted</h1>
            <p>Nothing was decided. Open the link from the email again and use the button on its page.</p>
            """)

    static func tooManyRequests(retryAfter seconds: Int) -> String {
        layout(
            title: "Too many requests",
            body: """
                <h1>Too many requests</h1>
                <p>Nothing was decided. Too many links were opened from your address; try again in \(seconds) seconds.</p>
                """)
    }

    static func decided(_ decision: Decision, token: TokenView) -> String {
        let approved = decision == .approve
        return layout(
            title: approved ? "Request Approved" : "Request Rejected",
            body: """
                <div class="icon \(approved ? "ok" : "bad")" aria-hidden="true">\(approved ? "&#10004;" : "&#10008;")</div>
                <h1>\(approved ? "Request Approved!" : "Request Rejected!")</h1>
                <p>Your decision settled \(htmlEscape(token.requestId)): it is \(approved ? "approved" : "rejected").</p>
                \(policyNote(token))
                \(details(token))
                """)
    }

    /// "Decision received": what became of it is not known yet — the message broker is away and the decision is
    /// stored to be applied once it is back (`stored`), or the orchestrator has not said within the page's wait.
    /// Emailed to the approver when `emailed`. (No automatic reload: the link's pages would offer the form again
    /// while the decision is on its way.)
    static func received(_ decision: Decision, token: TokenView, stored: Bool, emailed: Bool) -> String {
        let state = stored
            ? "is stored. It is applied as soon as the approval service is reachable again, in a few minutes at most."
            : "reached the approval service, which has not said yet what it made of it."
        let next = emailed
            ? "the result will be emailed to \(htmlEscape(token.approver))."
            : "open the link again in a minute to see where the request stands."
        return layout(
            title: "Decision received",
            body: """
                <div class="icon" aria-hidden="true">&#8987;</div>
                <h1>Decision received</h1>
                <p>Your decision to \(decision == .approve ? "approve" : "reject") \(htmlEscape(token.requestId)) \(state) \
                Do not click again: \(next)</p>
                \(policyNote(token))
                \(details(token))
                """)
    }

    /// A vote that is kept: the request still waits for other approvers.
    static func voteRecorded(_ decision: Decision, token: TokenView, tally: (approvals: Int, needed: Int)) -> String {
        layout(
            title: "Vote recorded",
            body: """
                <div class="icon ok" aria-hidden="true">&#10004;</div>
                <h1>Your vote is recorded</h1>
                <p>You \(decision == .approve ? "approved" : "rejected") \(htmlEscape(token.requestId)): \(tally.approvals) of \
                \(tally.needed) approvals so far. The request is decided when the others have had their say.</p>
                \(policyNote(token))
                \(details(token))
                """)
    }

    /// The requester tried to decide their own request.
    static func fourEyes(_ token: TokenView) -> String {
        layout(
            title: "Not allowed",
            body: """
                <div class="icon bad" aria-hidden="true">&#10008;</div>
                <h1>You cannot decide your own request</h1>
                <p>\(htmlEscape(token.requestId)) was requested by you (\(htmlEscape(token.requester ?? token.approver))), and \
                someone else must decide it. Your attempt is recorded; nothing changed.</p>
                \(details(token))
                """)
    }

    /// Any other refusal, with the orchestrator's reason.
    static func notApplied(_ token: TokenView, reason: String) -> String {
        layout(
            title: "Not applied",
            body: """
                <h1>Your decision was not applied</h1>
                <p>\(htmlEscape(token.requestId)): \(htmlEscape(reason)). Nothing changed.</p>
                \(details(token))
                """)
    }

    static func alreadyDecided(_ token: TokenView) -> String {
        var outcome = "already \(token.status == .timedOut ? "timed out" : token.status.rawValue)"
        if token.status == .pending { outcome = "already being decided" }
        var who = ""
        if let decidedBy = token.decidedBy {
            who = " by \(htmlEscape(decidedBy))"
            if let at = token.decidedAt { who += " on \(HumanFormat.utc(at))" }
        }
        return layout(
            title: "Already decided",
            body: """
                <h1>This request was \(htmlEscape(outcome))</h1>
                <p>Request \(htmlEscape(token.requestId)) was \(htmlEscape(outcome))\(who). This link cannot change it.</p>
                \(details(token))
                """)
    }

    static func expired(_ token: TokenView) -> String {
        var outcome = ""
        if token.endedByDeadline {
            outcome = token.status == .approved
                ? " Nobody decided in time, so it was approved automatically, as the request asked."
                : " Nobody decided in time, so it was rejected automatically."
        }
        return layout(
            title: "Link expired",
            body: """
                <h1>This link has expired</h1>
                <p>The decision window for request \(htmlEscape(token.requestId)) closed at \(HumanFormat.utc(token.expiresAt)).\(outcome)</p>
                """)
    }

    static let unknown = layout(
        title: "Link not recognised",
        body: """
            <h1>This link is not recognised</h1>
            <p>Check that the whole link was copied from the email. Links work only for the request they were sent for.</p>
            """)

    static let unavailable = layout(
        title: "Temporarily unavailable",
        body: """
            <h1>Temporarily unavailable</h1>
            <p>Your decision was not recorded. Please try again in a minute.</p>
            """)

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
