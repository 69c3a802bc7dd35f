import Foundation
import GreenlightModels
import Mail
import ServiceSupport

/// The notifier's settings, from `GREENLIGHT_*` environment variables.
public struct NotifierConfiguration: Sendable {
    public var common: CommonConfiguration
    public var smtp: SMTPConfiguration
    public var mailFrom: String
    public var publicURL: String
    /// What link tokens are derived with; the orchestrator must have the same.
    public var linkSecret: LinkSecret
    /// Where webhook notifications are POSTed (`GREENLIGHT_WEBHOOK_URL`); nil when none is configured.
    public var webhookURL: String?
    public var banner: String

    public static func load(_ environment: [String: String]) throws -> NotifierConfiguration {
        var reader = EnvironmentReader(environment)
        let common = CommonConfiguration.read(&reader, service: "greenlight-notifier", defaultPort: 8083)
        let smtp = reader.parse("GREENLIGHT_SMTP_URL", default: "smtp://127.0.0.1:1025", masked: { $0.description }) {
            try SMTPConfiguration(url: $0)
        }
        let from = reader.string("GREENLIGHT_MAIL_FROM", default: "greenlight@localhost.localdomain")
        if !EmailAddress.isValid(from) {
            reader.report("GREENLIGHT_MAIL_FROM must be an email address such as greenlight@example.com, not \"\(from)\"")
        }
        let publicURL = reader.httpURL("GREENLIGHT_PUBLIC_URL", default: "http://127.0.0.1:8081")
        let linkSecret = readLinkSecret(&reader)
        // The URL of a Slack-style incoming webhook carries its credential: masked in the banner.
        let webhook = reader.string("GREENLIGHT_WEBHOOK_URL", default: "", secret: true)
        if !webhook.isEmpty, !(webhook.hasPrefix("https://") || webhook.hasPrefix("http://")) || URL(string: webhook)?.host == nil {
            reader.report("GREENLIGHT_WEBHOOK_URL must be an http:// or https:// URL such as https://hooks.slack.com/services/…")
        }
        try reader.validate()
        return NotifierConfiguration(
            common: common, smtp: smtp!, mailFrom: from, publicURL: publicURL, linkSecret: linkSecret!,
            webhookURL: webhook.isEmpty ? nil : webhook, banner: reader.banner)
    }
}
