import Foundation
import GreenlightModels
import Mail
import Templates

/// The email that asks an approver to decide: details, approve and reject links, and when the links expire; from
/// the `email-approval.*` templates.
public enum ApprovalEmail {
    public static func make(
        for notification: NotificationRequested, linkToken: String, publicURL: String, from: String,
        templates: TemplateLibrary, now: Date = Date()
    ) -> MailMessage {
        var values = EmailValues(notification, now: now)
        values.approveURL = "\(publicURL)/approve/\(linkToken)"
        values.rejectURL = "\(publicURL)/reject/\(linkToken)"
        let prepared = templates.prepare(values)
        return MailMessage(
            from: from, fromName: "Greenlight", to: [notification.approver],
            subject: templates.subject(.emailApprovalSubject, prepared), text: templates.render(.emailApprovalText, prepared),
            html: templates.render(.emailApprovalHTML, prepared), messageId: messageId(for: notification, from: from),
            extraHeaders: [("X-Greenlight-Request-Id", notification.requestId)])
    }

    /// The same for every copy of one notification (`<notification-ID@domain of the sender>`): a mail client folds
    /// a copy that went twice into one message.
    static func messageId(for notification: NotificationRequested, from: String) -> String {
        MailMessage.messageId("notification-\(notification.eventId.uuidString.lowercased())", from: from)
    }
}
