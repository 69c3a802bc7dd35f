import Foundation
import GreenlightModels
import Intake
import Notifier
import Orchestrator
import ServiceSupport
import Testing

/// The outcome webhook settings: a malformed secret or default URL stops the service naming the variable and never
/// printing the secret; the secret is masked in the banner.
struct CallbackConfigurationTests {
    static let linkSecret = ["GREENLIGHT_LINK_SECRET": "callback-configuration-secret-0123456789"]
    static let callbackSecret = "whsec_" + Data(repeating: 9, count: 32).base64EncodedString()

    @Test func theSecretIsReadCheckedAndMasked() throws {
        let notifier = try NotifierConfiguration.load(
            Self.linkSecret.merging(["GREENLIGHT_CALLBACK_SECRET": Self.callbackSecret, "GREENLIGHT_CALLBACK_ALLOW_PRIVATE": "true"]) { $1 })
        #expect(notifier.callbackSecret == Self.callbackSecret)
        #expect(notifier.callbackAllowPrivate)
        #expect(!notifier.banner.contains(Self.callbackSecret.dropFirst(6)))
        #expect(!(try NotifierConfiguration.load(Self.linkSecret).callbackAllowPrivate))
        for bad in ["not-a-secret", "whsec_short", "whsec_!!!!"] {
            #expect {
                try NotifierConfiguration.load(Self.linkSecret.merging(["GREENLIGHT_CALLBACK_SECRET": bad]) { $1 })
            } throws: { error in
                "\(error)".contains("GREENLIGHT_CALLBACK_SECRET") && !"\(error)".contains(bad)
            }
        }
    }

    @Test func theOrchestratorReadsTheDefaultURLAndTheMaximumAge() throws {
        let defaults = try OrchestratorConfiguration.load(Self.linkSecret)
        #expect(defaults.callbacks == CallbackSettings(defaultURL: nil, maxAgeSeconds: 86_400))
        let set = try OrchestratorConfiguration.load(
            Self.linkSecret.merging([
                "GREENLIGHT_CALLBACK_URL": "https://hooks.example.com/greenlight?token=abc",
                "GREENLIGHT_CALLBACK_MAX_AGE_SECONDS": "3600",
            ]) { $1 })
        #expect(set.callbacks == CallbackSettings(defaultURL: "https://hooks.example.com/greenlight?token=abc", maxAgeSeconds: 3600))
        #expect(!set.banner.contains("token=abc"))
        for (name, value) in [("GREENLIGHT_CALLBACK_URL", "ftp://x"), ("GREENLIGHT_CALLBACK_MAX_AGE_SECONDS", "0")] {
            #expect {
                try OrchestratorConfiguration.load(Self.linkSecret.merging([name: value]) { $1 })
            } throws: { error in
                "\(error)".contains(name)
            }
        }
        #expect(try IntakeConfiguration.load(["GREENLIGHT_API_KEYS": "callback-configuration-key-0123", "GREENLIGHT_CALLBACK_ALLOW_PRIVATE": "true"]).callbackAllowPrivate)
    }
}
