import Foundation
import GreenlightModels
import Mail

/// The email that asks an approver to decide: details, approve and reject links, and when the links expire.
public enum ApprovalEmail {
    public static func make(
        for notification: NotificationRequested, linkToken: String, publicURL: String, from: String, now: Date = Date()
    ) -> MailMessage {
        let amount = HumanFormat.amount(notification.amount, currency: notification.currency)
        let approveURL = "\(publicURL)/approve/\(linkToken)"
        let rejectURL = "\(publicURL)/reject/\(linkToken)"
        let expires = HumanFormat.utc(notification.expiresAt)
        let remaining = HumanFormat.duration(from: now, to: notification.expiresAt)
        let requester = notification.requester ?? "an automated system"
        let (prefix, why): (String, String)
        switch notification.kind ?? .request {
        case .request: (prefix, why) = ("", "")
        case .reminder: (prefix, why) = ("Reminder: ", "You have not decided on this request yet.")
        case .escalation: (prefix, why) = ("Escalated: ", "This request was escalated to you: nobody had decided on it in time.")
        // Receipts are written by ReceiptEmail; should one reach here, it is a plain request.
        case .receipt: (prefix, why) = ("", "")
        }
        let heading = prefix.isEmpty ? "Approval needed" : "\(prefix)approval needed"
        let atDeadline = "If nobody decides before the expiry, the request is \(notification.onTimeout == .approve ? "approved" : "rejected") automatically."

        let text = """
            \(heading)
            \(why.isEmpty ? "" : "\n\(why)\n")
            \(notification.description)

            Request:    \(notification.requestId)
            Amount:     \(amount)
            Requester:  \(requester)
            Submitted:  \(HumanFormat.utc(notification.submittedAt))
            Expires:    \(expires) (expires in \(remaining))

            Approve: \(approveURL)
            Reject:  \(rejectURL)

            Each link opens a page where you confirm your decision; opening it decides nothing.
            \(atDeadline)

            This request came from \(requester) through Greenlight and was sent to \(notification.approver).
            """
        let html = """
            <!DOCTYPE html>
            <html lang="en"><body style="margin:0;padding:24px;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2328">
            <table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px">
            <tr><td style="padding:24px">
            <h1 style="font-size:20px;margin:0 0 16px">\(heading)</h1>
            \(why.isEmpty ? "" : "<p style=\"font-size:14px;margin:0 0 16px;color:#9a6700\"><strong>\(htmlEscape(why))</strong></p>")
            <p style="font-size:16px;margin:0 0 16px">\(htmlEscape(notification.description))</p>
            <table role="presentation" cellpadding="4" cellspacing="0" style="font-size:14px">
            <tr><td><strong>Request</strong></td><td>\(htmlEscape(notification.requestId))</td></tr>
            <tr><td><strong>Amount</strong></td><td>\(htmlEscape(amount))</td></tr>
            <tr><td><strong>Requester</strong></td><td>\(htmlEscape(requester))</td></tr>
            <tr><td><strong>Submitted</strong></td><td>\(HumanFormat.utc(notification.submittedAt))</td></tr>
            <tr><td><strong>Expires</strong></td><td>\(expires) (expires in \(remaining))</td></tr>
            </table>
            <p style="margin:24px 0">
            <a href="\(htmlEscape(approveURL))" style="display:inline-block;padding:12px 24px;background:#1a7f37;color:#ffffff;text-decoration:none;border-radius:6px;font-weight:bold">Approve</a>
            &nbsp;
            <a href="\(htmlEscape(rejectURL))" style="display:inline-block;padding:12px 24px;background:#cf222e;color:#ffffff;text-decoration:none;border-radius:6px;font-weight:bold">Reject</a>
            </p>
            <p style="font-size:12px;color:#57606a">Each button opens a page where you confirm your decision. \(atDeadline) This request came from \(htmlEscape(requester)) through Greenlight.</p>
            </td></tr></table></body></html>
            """
        return MailMessage(
            from: from, fromName: "Greenlight", to: [notification.approver],
            subject: "\(heading): \(notification.description) (\(amount))", text: text, html: html,
            messageId: messageId(for: notification, from: from),
            extraHeaders: [("X-Greenlight-Request-Id", notification.requestId)])
    }

    /// The same for every copy of one notification (`<notification-ID@domain of the sender>`): a mail client folds
    /// a copy that went twice into one message.
    static func messageId(for notification: NotificationRequested, from: String) -> String {
        let domain = from.split(separator: "@").last.map(String.init) ?? "greenlight.local"
        return "<notification-\(notification.eventId.uuidString.lowercased())@\(domain)>"
    }
}
