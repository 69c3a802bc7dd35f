import Foundation
import GreenlightModels
import Mail
import Templates

/// The email that tells an approver what became of their own decision, when the page after their click could not
/// say in time; from the `email-receipt.*` templates. No links: there is nothing left to click.
public enum ReceiptEmail {
    public static func make(for notification: NotificationRequested, from: String, templates: TemplateLibrary)
        -> MailMessage
    {
        var values = EmailValues(notification, now: Date())
        values.receipt =
            notification.receipt ?? "Your decision on \(notification.requestId) reached the approval service."
        let prepared = templates.prepare(values)
        return MailMessage(
            from: from, fromName: "Greenlight", to: [notification.approver],
            subject: templates.subject(.emailReceiptSubject, prepared), text: templates.render(.emailReceiptText, prepared),
            html: templates.render(.emailReceiptHTML, prepared),
            messageId: ApprovalEmail.messageId(for: notification, from: from),
            extraHeaders: [
                ("X-Greenlight-Request-Id", notification.requestId),
                ("X-Greenlight-Kind", NotificationKind.receipt.rawValue),
            ])
    }
}
