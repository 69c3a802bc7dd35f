import Foundation
import GreenlightModels
import Mail
import Templates

/// The email that tells an approver a request went to their delegate while they are away; from the
/// `email-delegated.*` templates. No links: the delegate decides in their place.
public enum DelegationNoticeEmail {
    public static func make(for notification: NotificationRequested, from: String, templates: TemplateLibrary)
        -> MailMessage
    {
        var values = EmailValues(notification, now: Date())
        values.delegate = notification.delegate ?? "your delegate"
        let prepared = templates.prepare(values)
        return MailMessage(
            from: from, fromName: "Greenlight", to: [notification.approver],
            subject: templates.subject(.emailDelegatedSubject, prepared), text: templates.render(.emailDelegatedText, prepared),
            html: templates.render(.emailDelegatedHTML, prepared),
            messageId: ApprovalEmail.messageId(for: notification, from: from),
            extraHeaders: [
                ("X-Greenlight-Request-Id", notification.requestId),
                ("X-Greenlight-Kind", NotificationKind.delegated.rawValue),
            ])
    }
}
