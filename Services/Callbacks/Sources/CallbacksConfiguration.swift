import Postgres
import ServiceSupport
import Templates

/// The callback receiver's settings, from `GREENLIGHT_*` environment variables.
public struct CallbacksConfiguration: Sendable {
    public var common: CommonConfiguration
    public var database: PostgresConfiguration
    /// The base of the links in emails: the address people reach this service at.
    public var publicURL: String
    public var apiKeys: APIKeys
    /// Requests per minute one client address may make to the link pages (0: no limit).
    public var linkRateLimit: Int
    /// Whether the client address comes from `X-Forwarded-For` (behind a reverse proxy that sets it).
    public var trustForwardedFor: Bool
    /// Where `/metrics`, `/healthz`, `/readyz` and the callback API are served when they are kept off the public
    /// port (`GREENLIGHT_INTERNAL_HOST`, `GREENLIGHT_INTERNAL_PORT`); nil: everything on `GREENLIGHT_HTTP_PORT`.
    public var internalAddress: (host: String, port: Int)?
    /// How long a click's page waits for the orchestrator's verdict (`GREENLIGHT_LINK_VERDICT_WAIT_MS`).
    public var verdictWait: Duration
    /// What the pages are rendered from (`GREENLIGHT_TEMPLATE_DIR`).
    public var templates: TemplateLibrary
    /// The approver inbox's settings (on with `GREENLIGHT_LINK_SECRET`).
    public var portal: PortalSettings
    /// Slack's signing secret (`GREENLIGHT_SLACK_SIGNING_SECRET`): with it, `/v1/slack/interactions` takes the direct
    /// messages' buttons; nil when unset.
    public var slackSigningSecret: String?
    /// The bot token and Web API base for opening modals (`GREENLIGHT_SLACK_BOT_TOKEN`, `GREENLIGHT_SLACK_API_URL`).
    public var slack: SlackSettings?
    public var banner: String

    public static func load(_ environment: [String: String]) throws -> CallbacksConfiguration {
        var reader = EnvironmentReader(environment)
        let common = CommonConfiguration.read(&reader, service: "greenlight-callbacks", defaultPort: 8081)
        let database = readDatabaseConfiguration(&reader)
        let publicURL = reader.httpURL("GREENLIGHT_PUBLIC_URL", default: "http://127.0.0.1:8081")
        let apiKeys = APIKeys.read(&reader, requireKeys: false)
        let rateLimit = reader.int("GREENLIGHT_LINK_RATE_LIMIT", default: 60, range: 0...100_000)
        let forwarded = reader.bool("GREENLIGHT_TRUST_FORWARDED_FOR", default: false)
        let verdictWait = reader.int("GREENLIGHT_LINK_VERDICT_WAIT_MS", default: 2000, range: 0...30_000)
        let templates = readTemplates(&reader)
        let portal = PortalSettings.read(&reader)
        let signingSecret = reader.optional("GREENLIGHT_SLACK_SIGNING_SECRET", secret: true)
        let slack = readSlackSettings(&reader)
        if slack != nil, signingSecret == nil {
            reader.report(
                "GREENLIGHT_SLACK_SIGNING_SECRET must be set with GREENLIGHT_SLACK_BOT_TOKEN (the app's Basic Information page): "
                    + "without it Slack's button presses cannot be verified")
        }
        let internalHost = reader.string("GREENLIGHT_INTERNAL_HOST", default: "127.0.0.1")
        let internalPortText = reader.string("GREENLIGHT_INTERNAL_PORT", default: "")
        let internalPort = Int(internalPortText)
        if !internalPortText.isEmpty, internalPort.map({ !(0...65535).contains($0) }) ?? true {
            reader.report("GREENLIGHT_INTERNAL_PORT must be a port number from 0 to 65535, or unset, not \"\(internalPortText)\"")
        }
        if let internalPort, internalPort != 0, internalPort == common.httpPort {
            reader.report("GREENLIGHT_INTERNAL_PORT must differ from GREENLIGHT_HTTP_PORT (\(internalPort)), or be unset")
        }
        try reader.validate()
        return CallbacksConfiguration(
            common: common, database: database!, publicURL: publicURL, apiKeys: apiKeys, linkRateLimit: rateLimit,
            trustForwardedFor: forwarded, internalAddress: internalPort.map { (internalHost, $0) },
            verdictWait: .milliseconds(verdictWait), templates: templates!, portal: portal, slackSigningSecret: signingSecret,
            slack: slack, banner: reader.banner)
    }
}
