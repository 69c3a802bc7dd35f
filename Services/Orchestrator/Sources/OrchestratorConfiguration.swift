import GreenlightModels
import Postgres
import ServiceSupport

/// The orchestrator's settings, from `GREENLIGHT_*` environment variables.
public struct OrchestratorConfiguration: Sendable {
    public var common: CommonConfiguration
    public var database: PostgresConfiguration
    /// How often the timer scheduler and outbox relay look for work when nothing wakes them.
    public var pollInterval: Duration
    /// How many timer workers fire due timers side by side (`GREENLIGHT_TIMER_WORKERS`), each claiming its own batch
    /// on its own connection: deadlines falling together are fired that many at a time.
    public var timerWorkers: Int
    /// What link tokens are derived with; the notifiers must have the same.
    public var linkSecret: LinkSecret
    /// How long consumed events' ids are kept (`GREENLIGHT_INBOX_RETENTION_HOURS`).
    public var inboxRetention: Duration
    /// Whether a request's requester is refused as its decider (`GREENLIGHT_FOUR_EYES`).
    public var fourEyes: Bool
    /// Where outcome webhooks go for requests that name no `callbackUrl` (`GREENLIGHT_CALLBACK_URL`; none when unset),
    /// and how long each is retried (`GREENLIGHT_CALLBACK_MAX_AGE_SECONDS`).
    public var callbacks: CallbackSettings
    /// How outcomes and lifecycle events are carried (`GREENLIGHT_EVENT_FORMAT`, `GREENLIGHT_EVENT_SOURCE`).
    public var events: EventFormatSettings
    /// Whether each request's stages are published on `approvals.lifecycle` (`GREENLIGHT_LIFECYCLE_EVENTS`): four or
    /// more messages an approval, which a deployment may have no reader for.
    public var lifecycleEvents: Bool
    public var banner: String

    public static func load(_ environment: [String: String]) throws -> OrchestratorConfiguration {
        var reader = EnvironmentReader(environment)
        let common = CommonConfiguration.read(&reader, service: "greenlight-orchestrator", defaultPort: 8082)
        let database = readDatabaseConfiguration(&reader)
        let pollMilliseconds = reader.int("GREENLIGHT_POLL_INTERVAL_MS", default: 200, range: 10...60_000)
        let timerWorkers = reader.int("GREENLIGHT_TIMER_WORKERS", default: 4, range: 1...64)
        let linkSecret = readLinkSecret(&reader)
        let inboxRetention = readInboxRetention(&reader)
        let fourEyes = readFourEyes(&reader)
        // A URL may carry its receiver's credential in its path or query: masked in the banner.
        let callbackURL = reader.optional("GREENLIGHT_CALLBACK_URL", secret: true)
        if let callbackURL, let refusal = CallbackAddress.refusal(url: callbackURL, allowPrivate: true) {
            reader.report("GREENLIGHT_CALLBACK_URL \(refusal)")
        }
        let callbackMaxAge = readCallbackMaxAge(&reader)
        let events = EventFormatSettings.read(&reader)
        let lifecycleEvents = reader.bool("GREENLIGHT_LIFECYCLE_EVENTS", default: true)
        try reader.validate()
        return OrchestratorConfiguration(
            common: common, database: database!, pollInterval: .milliseconds(pollMilliseconds), timerWorkers: timerWorkers,
            linkSecret: linkSecret!,
            inboxRetention: inboxRetention, fourEyes: fourEyes,
            callbacks: CallbackSettings(
                defaultURL: callbackURL, maxAgeSeconds: callbackMaxAge,
                cloudEventSource: events.format == .cloudevents ? events.source : nil),
            events: events, lifecycleEvents: lifecycleEvents,
            banner: reader.banner)
    }
}
