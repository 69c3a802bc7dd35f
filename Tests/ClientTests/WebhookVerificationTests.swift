import Foundation
import GreenlightClient
import Testing

/// `GreenlightClient.verifyWebhook` against the Standard Webhooks specification's own test vector (the Python
/// client's tests check the same one).
struct WebhookVerificationTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let body = Data(#"{"test": 2432232314}"#.utf8)
    static let signedAt = Date(timeIntervalSince1970: 1_614_265_330)
    static let headers = [
        "Webhook-Id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
        "WEBHOOK-SIGNATURE": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ]

    @Test func theSpecificationsVectorVerifiesWithHeaderNamesInAnyCase() throws {
        let id = try GreenlightClient.verifyWebhook(headers: Self.headers, body: Self.body, secret: Self.secret, now: Self.signedAt)
        #expect(id == "msg_p5jXN8AQM9LWM0D4loKWxJek")
        var rotated = Self.headers
        rotated["WEBHOOK-SIGNATURE"] = "v1,bm90IHRoaXMgb25l v2,other " + Self.headers["WEBHOOK-SIGNATURE"]!
        #expect(throws: Never.self) {
            try GreenlightClient.verifyWebhook(headers: rotated, body: Self.body, secret: Self.secret, now: Self.signedAt)
        }
    }

    @Test func whatMustNotBeActedOnIsRefusedWithTheReason() throws {
        func refusal(
            _ headers: [String: String] = Self.headers, body: Data = Self.body, secret: String = Self.secret, at: Date = Self.signedAt
        )
            -> GreenlightWebhookError?
        {
            do {
                try GreenlightClient.verifyWebhook(headers: headers, body: body, secret: secret, now: at)
                return nil
            } catch {
                return error
            }
        }
        #expect(refusal(body: Data(#"{"test": 2432232315}"#.utf8)) == .notVerified(.noMatchingSignature))
        #expect(refusal(secret: "whsec_" + Data(repeating: 1, count: 24).base64EncodedString()) == .notVerified(.noMatchingSignature))
        #expect(refusal(at: Self.signedAt.addingTimeInterval(301)) == .notVerified(.timestampOutOfTolerance))
        #expect(refusal(at: Self.signedAt.addingTimeInterval(-301)) == .notVerified(.timestampOutOfTolerance))
        var unsigned = Self.headers
        unsigned["WEBHOOK-SIGNATURE"] = nil
        #expect(refusal(unsigned) == .missingHeader("webhook-signature"))
        if case .unusableSecret(let problem) = refusal(secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
            #expect(problem.contains("whsec_"))
        } else {
            Issue.record("a secret without whsec_ was not refused as unusable")
        }
    }
}
