import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Logging
import Metrics

/// Where outcome webhooks go for requests that name no `callbackUrl`, and how long each is tried.
public struct CallbackSettings: Sendable, Equatable {
    /// `GREENLIGHT_CALLBACK_URL`; nil: only requests that name a `callbackUrl` get webhooks.
    public var defaultURL: String?
    /// `GREENLIGHT_CALLBACK_MAX_AGE_SECONDS`: a webhook's `expiresAt` is this long after it is requested.
    public var maxAgeSeconds: Int
    /// With `GREENLIGHT_EVENT_FORMAT=cloudevents`, the CloudEvents `source` (`GREENLIGHT_EVENT_SOURCE`): each webhook's
    /// body is then a structured-mode CloudEvent (`application/cloudevents+json`) whose `data` is the event. Nil: the
    /// event's own JSON.
    public var cloudEventSource: String?

    public init(defaultURL: String? = nil, maxAgeSeconds: Int = 86_400, cloudEventSource: String? = nil) {
        self.defaultURL = defaultURL
        self.maxAgeSeconds = maxAgeSeconds
        self.cloudEventSource = cloudEventSource
    }
}

extension ApprovalWorkflow.Messages {
    /// Asks the notifier to POST `event` (the outcome, or a lifecycle stage when the request asked for them with
    /// `callbackLifecycle`) to the request's `callbackUrl`, or the deployment's default; nothing when there is neither.
    /// The body is the event as published, and the webhook's id comes from the request and the event, so a replay
    /// asks for the same webhook (receivers deduplicate on the id) — it is emitted with the event, in the same step.
    func webhook<Event: CloudEventPayload>(_ event: Event, _ step: StepContext) async throws {
        guard let url = request.callbackUrl ?? callbacks.defaultURL else { return }
        if Event.self == ApprovalLifecycle.self, request.callbackLifecycle != true { return }
        let webhook = WebhookRequested(
            requestId: request.requestId, executionId: executionId,
            webhookId: WebhookRequested.webhookId(requestId: request.requestId, eventId: event.eventId), url: url,
            secret: request.callbackSecret, eventType: Event.eventType,
            contentType: callbacks.cloudEventSource == nil ? "application/json" : CloudEvent.structuredContentType,
            body: String(decoding: try body(of: event), as: UTF8.self), createdAt: step.now,
            expiresAt: step.now.addingTimeInterval(TimeInterval(callbacks.maxAgeSeconds)))
        try await step.emit(topic: Topic.notifications.rawValue, key: request.requestId, event: webhook)
    }

    /// The event's JSON, or the structured CloudEvent carrying it.
    private func body<Event: CloudEventPayload>(of event: Event) throws -> Data {
        guard let source = callbacks.cloudEventSource else { return try GreenlightJSON.encode(event) }
        return try CloudEvent(event, source: source).structuredJSON()
    }
}

extension ApprovalWorkflow {
    /// Keeps the latest report per outcome webhook (the status shows it) and writes each attempt to the history, so
    /// that a receiver that never took the outcome is never silent. Reports mostly arrive after the workflow ended.
    func record(_ report: WebhookDelivery, _ step: StepContext) {
        ApprovalWriter(step.connection).queueWebhookDelivery(report)
        var details: [String: JSONValue] = [
            "WebhookId": .string(report.webhookId), "Attempt": .number(Double(report.attempt)),
        ]
        if let eventType = report.eventType { details["EventType"] = .string(eventType) }
        if let status = report.statusCode { details["StatusCode"] = .number(Double(status)) }
        if let error = report.error { details["Error"] = .string(error) }
        recordReport("Webhook", report.result, details, step)
        if report.result == .failed {
            logger.error(
                "An outcome webhook was not delivered",
                metadata: ["requestId": "\(report.requestId)", "webhookId": "\(report.webhookId)", "error": "\(report.error ?? "")"])
        }
    }

    /// Writes a delivery report (of a `Notification` or a `Webhook`) to the history as `<subject>Delivered`,
    /// `…Retrying` or `…Failed`, and counts it (`greenlight_notification_reports_total`, `…_webhook_…`).
    func recordReport(_ subject: String, _ result: NotificationDelivery.Result, _ details: [String: JSONValue], _ step: StepContext) {
        let outcome: String
        switch result {
        case .delivered: outcome = "Delivered"
        case .retrying: outcome = "Retrying"
        case .failed: outcome = "Failed"
        }
        step.record(subject + outcome, details)
        counters.count("greenlight_\(subject.lowercased())_reports_total", [("result", result.rawValue)], on: step.connection)
    }
}
