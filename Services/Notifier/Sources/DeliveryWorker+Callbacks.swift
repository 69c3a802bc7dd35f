import DurableExecution
import Foundation
import GreenlightModels
import Logging
import Metrics
import ServiceSupport

extension DeliveryWorker {
    /// One attempt at an outcome webhook: signed afresh, POSTed, and recorded — delivered on a 2xx, failed for good on
    /// 410 Gone, a refused address, an unusable secret or past its maximum age, otherwise tried again with back-off.
    /// Every attempt is reported (`WebhookDelivery`). Logs name the request, the webhook id and the host, never the
    /// URL, the secret or a signature.
    func deliverWebhook(_ claim: DeliveryQueue.Claim) async throws {
        let webhook: WebhookRequested
        do {
            webhook = try GreenlightJSON.decode(WebhookRequested.self, from: Data(claim.payload.utf8))
        } catch {
            let report = try await record(
                claim, .failed(error: "the stored webhook cannot be read: \(DecodingErrorDescription.describe(error))"))
            await reporter.publishRecorded(report, trace: nil)
            return
        }
        let trace = claim.trace.flatMap(TraceContext.init(traceparent:)) ?? TraceContext.continuing(nil)
        var metadata: Logger.Metadata = [
            "requestId": "\(webhook.requestId)", "webhookId": "\(webhook.webhookId)", "eventType": "\(webhook.eventType)",
            "host": "\(URLComponents(string: webhook.url)?.host ?? "")", "attempt": "\(claim.attempt)", "traceId": "\(trace.traceId)",
        ]
        try await inSpan("deliver webhook", continuing: trace) { trace in
            if claim.now >= claim.deadline {
                Counter(label: "greenlight_callbacks_total", dimensions: [("result", "expired")]).increment()
                let error = "no 2xx before the webhook's maximum age (GREENLIGHT_CALLBACK_MAX_AGE_SECONDS) ran out"
                let report = try await record(claim, .failed(error: error))
                logger.error("An outcome webhook was not delivered", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                await reporter.publishRecorded(report, trace: trace)
                return
            }
            let callbacks = self.callbacks
            let attempt = await keepingClaim(claim, whileCancelled: CallbackDelivery.Attempt(
                statusCode: nil, failure: DeliveryFailure(description: "the send was cancelled", isPermanent: false))
            ) {
                await callbacks.attempt(webhook)
            }
            if let status = attempt.statusCode { metadata["statusCode"] = "\(status)" }
            let report: DeliveryQueue.Report?
            switch attempt.failure {
            case nil:
                report = try await record(claim, .sent, statusCode: attempt.statusCode)
                Counter(label: "greenlight_callbacks_total", dimensions: [("result", "delivered")]).increment()
                logger.info("Outcome webhook delivered", metadata: metadata)
            case let failure? where failure.isPermanent:
                report = try await record(claim, .failed(error: failure.description), statusCode: attempt.statusCode)
                Counter(label: "greenlight_callbacks_total", dimensions: [("result", "failed")]).increment()
                logger.error("An outcome webhook failed for good", metadata: metadata.merging(["error": "\(failure)"]) { $1 })
            case let failure?:
                let delay = schedule.delaySeconds(afterAttempt: claim.attempt)
                report = try await record(claim, .retry(error: failure.description, after: delay), statusCode: attempt.statusCode)
                Counter(label: "greenlight_callbacks_total", dimensions: [("result", "retried")]).increment()
                logger.warning(
                    "An outcome webhook failed; trying again later",
                    metadata: metadata.merging(["error": "\(failure)", "retryInSeconds": "\(Int(delay.rounded(.up)))"]) { $1 })
            }
            await reporter.publishRecorded(report, trace: trace)
        }
    }
}
