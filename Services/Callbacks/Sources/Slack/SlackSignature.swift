import Crypto
import Foundation
import GreenlightModels

/// Checks that a request comes from Slack: `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256, under the app's
/// signing secret (`GREENLIGHT_SLACK_SIGNING_SECRET`), of `v0:<X-Slack-Request-Timestamp>:<body>`, compared in
/// constant time; and the timestamp is within five minutes of this host's clock, so a captured request cannot be
/// played again later (within the window, a used button is refused by its link token).
struct SlackSignature: Sendable {
    static let window: TimeInterval = 5 * 60

    /// Why a request was refused; says nothing of the secret or of the expected signature.
    enum Refusal: String, Sendable, Error, CustomStringConvertible {
        case unsigned = "no X-Slack-Signature or X-Slack-Request-Timestamp header"
        case stale = "the X-Slack-Request-Timestamp is not within 5 minutes of now"
        case mismatch = "the X-Slack-Signature does not match the body under the signing secret"

        var description: String { rawValue }
    }

    private let secret: Data

    init(secret: String) {
        self.secret = Data(secret.utf8)
    }

    func check(body: [UInt8], timestamp: String?, signature: String?, now: Date) throws(Refusal) {
        guard let timestamp, let signature else { throw .unsigned }
        guard let seconds = TimeInterval(timestamp), abs(now.timeIntervalSince1970 - seconds) <= Self.window else {
            throw .stale
        }
        var signed = Data("v0:\(timestamp):".utf8)
        signed.append(contentsOf: body)
        let expected = Array(("v0=" + Hex.encode(HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: secret)))).utf8)
        let given = Array(signature.utf8)
        guard given.count == expected.count else { throw .mismatch }
        // Every byte compared whatever the first difference: the time taken says nothing of where it is.
        var difference: UInt8 = 0
        for (a, b) in zip(given, expected) { difference |= a ^ b }
        guard difference == 0 else { throw .mismatch }
    }
}
