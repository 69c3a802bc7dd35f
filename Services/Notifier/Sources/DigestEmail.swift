import Foundation
import GreenlightModels
import Mail
import Templates

/// The daily digest email: what waits on one person, with a link to their inbox (`PUBLIC_URL/inbox`), from the
/// `email-digest.*` templates.
public enum DigestEmail {
    struct Values {
        struct Item {
            struct Progress {
                var approvals: Int
                var needed: Int
            }

            var requestId: String
            var title: String?
            var description: String
            var amount: String?
            var requester: String
            var expires: String
            var progress: Progress?
        }

        var email: String
        var day: String
        var total: Int
        var one: Bool
        /// How many are not listed; nil when all are (a mustache section shows for any number, 0 included).
        var more: Int?
        var inbox: String
        var items: [Item]
    }

    public static func make(for digest: DigestRequested, publicURL: String, from: String, templates: TemplateLibrary) -> MailMessage {
        let items = digest.items.map { item in
            Values.Item(
                requestId: item.requestId, title: item.title, description: item.description,
                amount: HumanFormat.amount(item.amount, currency: item.currency), requester: item.requester ?? "an automated system",
                expires: HumanFormat.utc(item.expiresAt),
                progress: item.needed.map { Values.Item.Progress(approvals: item.approvals ?? 0, needed: $0) })
        }
        let values = Values(
            email: digest.email, day: digest.day, total: digest.total, one: digest.total == 1,
            more: digest.total > digest.items.count ? digest.total - digest.items.count : nil, inbox: "\(publicURL)/inbox", items: items)
        let prepared = templates.prepare(values)
        return MailMessage(
            from: from, fromName: "Greenlight", to: [digest.email],
            subject: templates.subject(.emailDigestSubject, prepared),
            text: templates.render(.emailDigestText, prepared), html: templates.render(.emailDigestHTML, prepared),
            messageId: MailMessage.messageId("digest-\(digest.eventId.uuidString.lowercased())", from: from),
            extraHeaders: [("X-Greenlight-Kind", "digest")])
    }
}
