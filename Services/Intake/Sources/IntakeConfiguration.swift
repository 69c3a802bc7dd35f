import GreenlightModels
import Postgres
import ServiceSupport

/// Intake's settings, from `GREENLIGHT_*` environment variables.
public struct IntakeConfiguration: Sendable {
    public var common: CommonConfiguration
    public var database: PostgresConfiguration
    public var defaultApprover: String
    public var apiKeys: APIKeys
    /// How approvers are notified when a request does not say (`notify`).
    public var defaultChannel: NotificationChannel
    /// Whether a request's requester is refused among its approvers (`GREENLIGHT_FOUR_EYES`).
    public var fourEyes: Bool
    /// Submissions a minute per API key (`GREENLIGHT_SUBMIT_RATE_LIMIT`, 0: none).
    public var submitRateLimit: Int
    /// Requests an hour that may email one address (`GREENLIGHT_RECIPIENT_RATE_LIMIT`, 0: none).
    public var recipientRateLimit: Int
    /// Whether a `callbackUrl` may name a private, loopback or link-local address (`GREENLIGHT_CALLBACK_ALLOW_PRIVATE`).
    public var callbackAllowPrivate: Bool
    /// Long-polls (`GET /v1/requests/{id}/outcome?wait=N`) one instance serves at once (`GREENLIGHT_MAX_OUTCOME_WAITERS`).
    public var maxOutcomeWaiters: Int
    public var banner: String

    public static func load(_ environment: [String: String]) throws -> IntakeConfiguration {
        var reader = EnvironmentReader(environment)
        let common = CommonConfiguration.read(&reader, service: "greenlight-intake", defaultPort: 8080)
        let database = readDatabaseConfiguration(&reader)
        let approver = reader.string("GREENLIGHT_DEFAULT_APPROVER", default: "approver@example.com")
        if !EmailAddress.isValid(approver) {
            reader.report("GREENLIGHT_DEFAULT_APPROVER must be an email address, not \"\(approver)\"")
        }
        let apiKeys = APIKeys.read(&reader, requireKeys: true)
        let channelText = reader.string("GREENLIGHT_DEFAULT_CHANNEL", default: "email")
        let channel = NotificationChannel(rawValue: channelText.lowercased())
        if channel == nil { reader.report("GREENLIGHT_DEFAULT_CHANNEL must be email or webhook, not \"\(channelText)\"") }
        let fourEyes = readFourEyes(&reader)
        let submitRateLimit = reader.int("GREENLIGHT_SUBMIT_RATE_LIMIT", default: 600, range: 0...1_000_000)
        let recipientRateLimit = reader.int("GREENLIGHT_RECIPIENT_RATE_LIMIT", default: 120, range: 0...1_000_000)
        let callbackAllowPrivate = readCallbackAllowPrivate(&reader)
        let maxOutcomeWaiters = reader.int("GREENLIGHT_MAX_OUTCOME_WAITERS", default: 1000, range: 1...100_000)
        try reader.validate()
        return IntakeConfiguration(
            common: common, database: database!, defaultApprover: approver, apiKeys: apiKeys,
            defaultChannel: channel ?? .email, fourEyes: fourEyes, submitRateLimit: submitRateLimit,
            recipientRateLimit: recipientRateLimit, callbackAllowPrivate: callbackAllowPrivate,
            maxOutcomeWaiters: maxOutcomeWaiters, banner: reader.banner)
    }
}
