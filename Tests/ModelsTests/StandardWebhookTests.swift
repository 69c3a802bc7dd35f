import Foundation
import GreenlightModels
import Testing

/// Standard Webhooks signing against the specification's published vector, and verification's refusals.
struct StandardWebhookTests {
    /// The vector every Standard Webhooks library tests against.
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let timestamp: Int64 = 1_614_265_330
    static let body = Data(#"{"test": 2432232314}"#.utf8)
    static let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    static let then = Date(timeIntervalSince1970: TimeInterval(timestamp))

    @Test func signingMatchesTheSpecificationsVector() throws {
        let webhook = try StandardWebhook(secret: Self.secret, setting: "GREENLIGHT_CALLBACK_SECRET")
        #expect(webhook.signature(id: Self.id, timestamp: Self.timestamp, body: Self.body) == Self.signature)
        let headers = webhook.headers(id: Self.id, at: Self.then.addingTimeInterval(0.9), body: Self.body)
        #expect(headers.map(\.name) == ["webhook-id", "webhook-timestamp", "webhook-signature"])
        #expect(headers.map(\.value) == [Self.id, "1614265330", Self.signature])
    }

    @Test func verifyingAcceptsTheVectorAndRefusesATamperedBody() throws {
        let webhook = try StandardWebhook(secret: Self.secret, setting: "s")
        try webhook.verify(id: Self.id, timestamp: "1614265330", signatures: Self.signature, body: Self.body, now: Self.then)
        #expect(throws: StandardWebhookVerificationError.noMatchingSignature) {
            try webhook.verify(
                id: Self.id, timestamp: "1614265330", signatures: Self.signature, body: Data(#"{"test": 2432232315}"#.utf8),
                now: Self.then)
        }
        // The id and the timestamp are signed too.
        #expect(throws: StandardWebhookVerificationError.noMatchingSignature) {
            try webhook.verify(id: "msg_other", timestamp: "1614265330", signatures: Self.signature, body: Self.body, now: Self.then)
        }
        #expect(throws: StandardWebhookVerificationError.noMatchingSignature) {
            try webhook.verify(
                id: Self.id, timestamp: "1614265331", signatures: Self.signature, body: Self.body, now: Self.then)
        }
        // Another key does not verify it.
        let other = try StandardWebhook(secret: "whsec_" + Data(repeating: 7, count: 32).base64EncodedString(), setting: "s")
        #expect(throws: StandardWebhookVerificationError.noMatchingSignature) {
            try other.verify(id: Self.id, timestamp: "1614265330", signatures: Self.signature, body: Self.body, now: Self.then)
        }
    }

    @Test func aTimestampMoreThanFiveMinutesAwayIsRefused() throws {
        let webhook = try StandardWebhook(secret: Self.secret, setting: "s")
        try webhook.verify(
            id: Self.id, timestamp: "1614265330", signatures: Self.signature, body: Self.body, now: Self.then.addingTimeInterval(300))
        for offset in [-301.0, 301] {
            #expect(throws: StandardWebhookVerificationError.timestampOutOfTolerance) {
                try webhook.verify(
                    id: Self.id, timestamp: "1614265330", signatures: Self.signature, body: Self.body,
                    now: Self.then.addingTimeInterval(offset))
            }
        }
        #expect(throws: StandardWebhookVerificationError.badTimestamp) {
            try webhook.verify(id: Self.id, timestamp: "hello", signatures: Self.signature, body: Self.body, now: Self.then)
        }
    }

    @Test func oneMatchingSignatureAmongSeveralIsEnough() throws {
        let webhook = try StandardWebhook(secret: Self.secret, setting: "s")
        let wrong = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
        let several = [wrong, "v2," + Self.signature.dropFirst(3), Self.signature, "garbage", wrong].joined(separator: " ")
        try webhook.verify(id: Self.id, timestamp: "1614265330", signatures: several, body: Self.body, now: Self.then)
        // The same value under another version does not count.
        #expect(throws: StandardWebhookVerificationError.noMatchingSignature) {
            try webhook.verify(
                id: Self.id, timestamp: "1614265330", signatures: "v2," + Self.signature.dropFirst(3) + " " + wrong,
                body: Self.body, now: Self.then)
        }
    }

    @Test func aMalformedSecretIsRefusedNamingTheSettingAndNotTheValue() {
        for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_AAAA", "whsec_"] {
            do {
                _ = try StandardWebhook(secret: bad, setting: "callbackSecret")
                Issue.record("\(bad) was accepted")
            } catch {
                #expect(error.setting == "callbackSecret")
                #expect(error.description.hasPrefix("callbackSecret "))
                #expect(!error.description.contains(bad.replacingOccurrences(of: "whsec_", with: "")) || bad == "whsec_")
            }
        }
        #expect(StandardWebhook.isValidSecret(Self.secret))
        #expect(!StandardWebhook.isValidSecret("whsec_AAAA"))
    }
}
