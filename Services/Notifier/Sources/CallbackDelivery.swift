import Foundation
import GreenlightModels
import Logging
import NIOCore
import ServiceSupport

/// One attempt at an outcome webhook (`WebhookRequested`): checks where it would go, signs it the Standard Webhooks
/// way with this attempt's timestamp, POSTs it with a timeout, and says what came of it. A 2xx delivers it; 410 Gone,
/// a refused address or an unusable secret fail it for good; anything else is tried again (the queue's back-off).
struct CallbackDelivery: Sendable {
    /// `GREENLIGHT_CALLBACK_SECRET`, for webhooks whose request brought no secret of its own.
    let defaultSecret: String?
    /// `GREENLIGHT_CALLBACK_ALLOW_PRIVATE`: no address check.
    let allowPrivate: Bool
    var timeout: TimeAmount = .seconds(15)
    /// The addresses a host resolves to (replaced in tests).
    var resolve: @Sendable (String) async throws -> [String] = { try await HostResolver.addresses(of: $0) }

    /// How an attempt went: the receiver's status when it answered, and why it failed when it did.
    struct Attempt: Sendable {
        var statusCode: Int?
        var failure: DeliveryFailure?
    }

    func attempt(_ webhook: WebhookRequested, now: Date = Date()) async -> Attempt {
        let signer: StandardWebhook
        do {
            guard let secret = webhook.secret ?? defaultSecret else {
                return Self.permanent(
                    "no signing secret: set GREENLIGHT_CALLBACK_SECRET for the notifier, or give the request a callbackSecret")
            }
            signer = try StandardWebhook(
                secret: secret, setting: webhook.secret == nil ? "GREENLIGHT_CALLBACK_SECRET" : "the request's callbackSecret")
        } catch {
            return Self.permanent("\(error)")
        }
        if let refusal = CallbackAddress.refusal(url: webhook.url, allowPrivate: allowPrivate) {
            return Self.permanent("the callback URL \(refusal); set GREENLIGHT_CALLBACK_ALLOW_PRIVATE=true to allow it")
        }
        if !allowPrivate, let host = URLComponents(string: webhook.url)?.host {
            do {
                // What the HTTP client connects to is what the host resolves to: every address must pass.
                for address in try await resolve(host) {
                    if let reason = CallbackAddress.refusal(address: address) {
                        return Self.permanent(
                            "the callback URL's host \(host) \(reason); set GREENLIGHT_CALLBACK_ALLOW_PRIVATE=true to allow it")
                    }
                }
            } catch {
                return Attempt(statusCode: nil, failure: DeliveryFailure(description: "\(error)", isPermanent: false))
            }
        }
        let body = Data(webhook.body.utf8)
        let headers = signer.headers(id: webhook.webhookId, at: now, body: body)
        do throws(WebhookError) {
            let status = try await WebhookPoster.post(
                body, to: webhook.url, contentType: webhook.contentType, headers: headers, client: WebhookPoster.callbackClient,
                timeout: timeout)
            if (200..<300).contains(status.code) { return Attempt(statusCode: status.code, failure: nil) }
            // Standard Webhooks: 410 Gone means the receiver wants no more. A 4xx other than 408 and 429 says the
            // receiver will not take this webhook however often it comes, and must not hold back the request's later
            // ones (they share its lane) until the maximum age: it fails for good. 5xx, 408 and 429 are retried.
            let permanent = (400..<500).contains(status.code) && status.code != 408 && status.code != 429
            return Attempt(
                statusCode: status.code,
                failure: DeliveryFailure(
                    description: "the receiver answered \(status.code)\(status.code == 410 ? " Gone: it wants no more webhooks" : "")",
                    isPermanent: permanent))
        } catch {
            return Attempt(statusCode: nil, failure: DeliveryFailure(description: "\(error)", isPermanent: false))
        }
    }

    static func permanent(_ reason: String) -> Attempt {
        Attempt(statusCode: nil, failure: DeliveryFailure(description: reason, isPermanent: true))
    }
}
