import Foundation
import GreenlightModels
import Mail

/// The email that tells an approver what became of their own decision, when the page after their click could not
/// say in time. No links: there is nothing left to click.
public enum ReceiptEmail {
    public static func make(for notification: NotificationRequested, from: String) -> MailMessage {
        let sentence = notification.receipt ?? "Your decision on \(notification.requestId) reached the approval service."
        let amount = HumanFormat.amount(notification.amount, currency: notification.currency)
        let text = """
            Your decision on \(notification.requestId)

            \(sentence)

            Request:    \(notification.requestId)
            \(notification.description)
            Amount:     \(amount)

            Greenlight sent this to \(notification.approver) because the page after your click could not tell you in time.
            """
        let html = """
            <!DOCTYPE html>
            <html lang="en"><body style="margin:0;padding:24px;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2328">
            <table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px">
            <tr><td style="padding:24px">
            <h1 style="font-size:20px;margin:0 0 16px">Your decision on \(htmlEscape(notification.requestId))</h1>
            <p style="font-size:16px;margin:0 0 16px">\(htmlEscape(sentence))</p>
            <p style="font-size:14px;margin:0 0 16px">\(htmlEscape(notification.description)) (\(htmlEscape(amount)))</p>
            <p style="font-size:12px;color:#57606a">Greenlight sent this to \(htmlEscape(notification.approver)) because the page after your click could not tell you in time.</p>
            </td></tr></table></body></html>
            """
        return MailMessage(
            from: from, fromName: "Greenlight", to: [notification.approver],
            subject: "Your decision on \(notification.requestId): \(notification.description)", text: text, html: html,
            messageId: ApprovalEmail.messageId(for: notification, from: from),
            extraHeaders: [("X-Greenlight-Request-Id", notification.requestId), ("X-Greenlight-Kind", NotificationKind.receipt.rawValue)])
    }
}
