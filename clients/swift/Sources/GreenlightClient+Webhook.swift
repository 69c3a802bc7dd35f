import Foundation
import GreenlightModels

extension GreenlightClient {
    /// Checks a webhook Greenlight sent (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`)
    /// with the secret it was signed with — the deployment's `GREENLIGHT_CALLBACK_SECRET` or the request's
    /// `callbackSecret`, `whsec_<base64>` — and returns its `webhook-id`, which stays the same on every retry
    /// (receivers drop ids they have seen). `body` is the raw bytes as received. Throws `GreenlightWebhookError`
    /// unless one `v1` signature matches and the timestamp is within five minutes of `now`.
    @discardableResult
    public static func verifyWebhook(headers: [String: String], body: Data, secret: String, now: Date = Date()) throws(GreenlightWebhookError)
        -> String
    {
        func header(_ name: String) throws(GreenlightWebhookError) -> String {
            guard let value = headers.first(where: { $0.key.lowercased() == name })?.value else {
                throw .missingHeader(name)
            }
            return value
        }
        let id = try header(StandardWebhook.idHeader)
        let timestamp = try header(StandardWebhook.timestampHeader)
        let signatures = try header(StandardWebhook.signatureHeader)
        let verifier: StandardWebhook
        do {
            verifier = try StandardWebhook(secret: secret, setting: "the webhook secret")
        } catch {
            throw .unusableSecret(error.description)
        }
        do {
            try verifier.verify(id: id, timestamp: timestamp, signatures: signatures, body: body, now: now)
        } catch {
            throw .notVerified(error)
        }
        return id
    }
}

/// Why a received webhook must not be acted on.
public enum GreenlightWebhookError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A Standard Webhooks header is missing: this is not a webhook Greenlight sent.
    case missingHeader(String)
    /// The secret is not `whsec_` followed by base64 of 16 or more bytes.
    case unusableSecret(String)
    /// The signature or the timestamp does not verify.
    case notVerified(StandardWebhookVerificationError)

    public var description: String {
        switch self {
        case .missingHeader(let name): "the \(name) header is missing: this is not a Standard Webhooks message"
        case .unusableSecret(let problem): problem
        case .notVerified(let error): error.description
        }
    }
}
