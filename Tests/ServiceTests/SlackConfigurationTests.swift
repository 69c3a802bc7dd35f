import Callbacks
import Foundation
import Notifier
import ServiceSupport
import Testing

/// The Slack settings: read by the notifier and the callback receiver, masked in their banners, and a bot token
/// without the signing secret (or a token or URL of the wrong shape) stops the callback receiver naming the variable.
struct SlackConfigurationTests {
    static let token = "xoxb-1234-5678-configuration"
    static let secret = "slack-signing-secret-configuration"

    @Test func theSettingsAreReadAndMasked() throws {
        let notifier = try NotifierConfiguration.load([
            "GREENLIGHT_LINK_SECRET": "slack-configuration-secret-0123456789", "GREENLIGHT_SLACK_BOT_TOKEN": Self.token,
        ])
        #expect(notifier.slack?.botToken == Self.token)
        #expect(notifier.slack?.apiURL == "https://slack.com/api/")
        #expect(!notifier.banner.contains(Self.token))
        #expect(try NotifierConfiguration.load(["GREENLIGHT_LINK_SECRET": "slack-configuration-secret-0123456789"]).slack == nil)

        let callbacks = try CallbacksConfiguration.load([
            "GREENLIGHT_SLACK_BOT_TOKEN": Self.token, "GREENLIGHT_SLACK_SIGNING_SECRET": Self.secret,
            "GREENLIGHT_SLACK_API_URL": "http://127.0.0.1:9/api",
        ])
        #expect(callbacks.slackSigningSecret == Self.secret)
        #expect(callbacks.slack?.apiURL == "http://127.0.0.1:9/api/")
        #expect(!callbacks.banner.contains(Self.token) && !callbacks.banner.contains(Self.secret))
    }

    @Test func aBotTokenWithoutTheSigningSecretOrOfTheWrongShapeIsRefused() throws {
        #expect {
            try CallbacksConfiguration.load(["GREENLIGHT_SLACK_BOT_TOKEN": Self.token])
        } throws: { error in
            "\(error)".contains("GREENLIGHT_SLACK_SIGNING_SECRET") && !"\(error)".contains(Self.token)
        }
        #expect {
            try CallbacksConfiguration.load([
                "GREENLIGHT_SLACK_BOT_TOKEN": "not-a-token", "GREENLIGHT_SLACK_SIGNING_SECRET": Self.secret,
                "GREENLIGHT_SLACK_API_URL": "slack.com/api",
            ])
        } throws: { error in
            "\(error)".contains("GREENLIGHT_SLACK_BOT_TOKEN") && "\(error)".contains("GREENLIGHT_SLACK_API_URL")
                && !"\(error)".contains("not-a-token")
        }
    }
}
