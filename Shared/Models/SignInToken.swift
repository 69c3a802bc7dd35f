import Crypto
import Foundation

/// Sign-in link tokens for the inbox: derived like link tokens (`LinkToken`), `HMAC-SHA256(secret, label + nonce)`,
/// first 16 bytes in base64url, with a label of their own, so that no link token is ever a sign-in token or the
/// other way round. The callback receiver stores only `LinkToken.hash` of one; the notifier derives it again from
/// the event's nonce to put it in the email.
public enum SignInToken {
    public static func derive(secret: LinkSecret, nonce: UUID) -> String {
        let mac = HMAC<SHA256>.authenticationCode(
            for: Data("greenlight-sign-in-v1:\(nonce.uuidString)".utf8), using: secret.key)
        return LinkToken.base64URL(Array(mac).prefix(16))
    }
}
