import Foundation
import GreenlightModels
import Mail
import Templates

/// The email with a link that signs a person in to the inbox (`PUBLIC_URL/inbox/sign-in/<token>`), from the
/// `email-sign-in.*` templates.
public enum SignInEmail {
    struct Values {
        var url: String
        var email: String
        var minutes: Int
        var expires: String
    }

    public static func make(
        for request: SignInLinkRequested, token: String, publicURL: String, from: String, templates: TemplateLibrary
    ) -> MailMessage {
        let values = Values(
            url: "\(publicURL)/inbox/sign-in/\(token)", email: request.email,
            minutes: max(1, Int(request.expiresAt.timeIntervalSince(request.requestedAt) / 60)),
            expires: HumanFormat.utc(request.expiresAt))
        let prepared = templates.prepare(values)
        return MailMessage(
            from: from, fromName: "Greenlight", to: [request.email],
            subject: templates.subject(.emailSignInSubject, prepared),
            text: templates.render(.emailSignInText, prepared), html: templates.render(.emailSignInHTML, prepared),
            messageId: MailMessage.messageId("sign-in-\(request.eventId.uuidString.lowercased())", from: from),
            extraHeaders: [("X-Greenlight-Kind", "sign-in")])
    }
}
