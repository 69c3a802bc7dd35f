import Foundation
import GreenlightModels
import Mail
import Postgres
import ServiceSupport
import Templates

/// The notifier's settings, from `GREENLIGHT_*` environment variables.
public struct NotifierConfiguration: Sendable {
    public var common: CommonConfiguration
    /// Where the delivery queue lives (`GREENLIGHT_DATABASE_URL`, the same database as the other services).
    public var database: PostgresConfiguration
    public var smtp: SMTPConfiguration
    public var mailFrom: String
    public var publicURL: String
    /// What link tokens are derived with: the current secret (the orchestrator's) and previous ones.
    public var linkKeys: LinkKeyring
    /// Where webhook notifications are POSTed (`GREENLIGHT_WEBHOOK_URL`); nil when none is configured.
    public var webhookURL: String?
    /// Slack direct messages with buttons, besides the email (`GREENLIGHT_SLACK_BOT_TOKEN`,
    /// `GREENLIGHT_SLACK_API_URL`); nil when no bot token is set.
    public var slack: SlackSettings?
    /// The deployment's `whsec_` secret that signs outcome webhooks (`GREENLIGHT_CALLBACK_SECRET`) when a request
    /// brings none of its own; nil when unset.
    public var callbackSecret: String?
    /// Whether outcome webhooks may go to private, loopback and link-local addresses
    /// (`GREENLIGHT_CALLBACK_ALLOW_PRIVATE`).
    public var callbackAllowPrivate: Bool
    /// How many messages are sent at once (`GREENLIGHT_NOTIFIER_SENDERS`), each on its own SMTP connection.
    public var senders: Int
    /// The first wait before a message that failed for now is tried again, and the longest
    /// (`GREENLIGHT_NOTIFY_RETRY_INITIAL_MS`, `GREENLIGHT_NOTIFY_RETRY_MAX_MS`).
    public var retryInitialDelay: Duration
    public var retryMaxDelay: Duration
    /// How long delivered messages are remembered (`GREENLIGHT_INBOX_RETENTION_HOURS`).
    public var retention: Duration
    /// What the emails are rendered from (`GREENLIGHT_TEMPLATE_DIR`).
    public var templates: TemplateLibrary
    public var banner: String

    public static func load(_ environment: [String: String]) throws -> NotifierConfiguration {
        var reader = EnvironmentReader(environment)
        let common = CommonConfiguration.read(&reader, service: "greenlight-notifier", defaultPort: 8083)
        let database = readDatabaseConfiguration(&reader)
        let smtp = reader.parse("GREENLIGHT_SMTP_URL", default: "smtp://127.0.0.1:1025", masked: { $0.description }) {
            try SMTPConfiguration(url: $0)
        }
        let from = reader.string("GREENLIGHT_MAIL_FROM", default: "greenlight@localhost.localdomain")
        if !EmailAddress.isValid(from) {
            reader.report("GREENLIGHT_MAIL_FROM must be an email address such as greenlight@example.com, not \"\(from)\"")
        }
        let publicURL = reader.httpURL("GREENLIGHT_PUBLIC_URL", default: "http://127.0.0.1:8081")
        let linkKeys = readLinkKeyring(&reader)
        // The URL of a Slack-style incoming webhook carries its credential: masked in the banner.
        let webhook = reader.string("GREENLIGHT_WEBHOOK_URL", default: "", secret: true)
        if !webhook.isEmpty, !(webhook.hasPrefix("https://") || webhook.hasPrefix("http://")) || URL(string: webhook)?.host == nil {
            reader.report("GREENLIGHT_WEBHOOK_URL must be an http:// or https:// URL such as https://hooks.slack.com/services/…")
        }
        let slack = readSlackSettings(&reader)
        let callbackSecret = readCallbackSecret(&reader)
        let callbackAllowPrivate = readCallbackAllowPrivate(&reader)
        let senders = reader.int("GREENLIGHT_NOTIFIER_SENDERS", default: 4, range: 1...64)
        let retryInitial = reader.int("GREENLIGHT_NOTIFY_RETRY_INITIAL_MS", default: 2000, range: 10...600_000)
        let retryMax = reader.int("GREENLIGHT_NOTIFY_RETRY_MAX_MS", default: 300_000, range: 10...3_600_000)
        if retryMax < retryInitial {
            reader.report("GREENLIGHT_NOTIFY_RETRY_MAX_MS (\(retryMax)) must not be less than GREENLIGHT_NOTIFY_RETRY_INITIAL_MS (\(retryInitial))")
        }
        let retention = readInboxRetention(&reader)
        let templates = readTemplates(&reader)
        try reader.validate()
        return NotifierConfiguration(
            common: common, database: database!, smtp: smtp!, mailFrom: from, publicURL: publicURL, linkKeys: linkKeys!,
            webhookURL: webhook.isEmpty ? nil : webhook, slack: slack, callbackSecret: callbackSecret,
            callbackAllowPrivate: callbackAllowPrivate, senders: senders,
            retryInitialDelay: .milliseconds(retryInitial), retryMaxDelay: .milliseconds(retryMax), retention: retention,
            templates: templates!, banner: reader.banner)
    }
}
