import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels

/// A request's story in time order: its durable history (deliveries, reminders, escalations, resends, the
/// deadline, the cancellation, the end) merged with the votes that counted and the decisions that were refused,
/// with why. The engine's own bookkeeping (steps starting, invocations, waits) is left out unless asked for.
enum ConsoleTimeline {
    struct Entry {
        var at: Date
        /// When, in UTC to the second.
        var when: String
        /// What kind of thing happened, for the page's styling: `request`, `notify`, `vote`, `refused`, `delivery`,
        /// `failed`, `remind`, `escalate`, `cancel`, `end`, `engine`.
        var kind: String
        var title: String
        var detail: String?
        /// Sorts entries of the same instant in the order their sources were read.
        var order: Int
    }

    static func entries(
        history: [HistoryEvent], votes: [ApprovalVote], attempts: [DecisionAttempt], engine: Bool
    ) -> [Entry] {
        var entries: [Entry] = []
        func add(_ at: Date, _ kind: String, _ title: String, _ detail: String? = nil) {
            entries.append(Entry(at: at, when: when(at), kind: kind, title: title, detail: detail, order: entries.count))
        }
        for event in history {
            if let (kind, title, detail) = describe(event) {
                add(event.timestamp, kind, title, detail)
            } else if engine {
                add(event.timestamp, "engine", event.type, engineDetail(event))
            }
        }
        for vote in votes {
            var facts = ["by \(vote.channel.rawValue)"]
            if let key = vote.apiKey { facts.append("API key \(key)") }
            if let address = vote.clientAddress { facts.append("from \(address)") }
            if let agent = vote.userAgent { facts.append(agent) }
            if let comment = vote.comment { facts.append("“\(comment)”") }
            add(vote.decidedAt, "vote", "\(vote.approver) voted to \(vote.decision.rawValue)", facts.joined(separator: " · "))
        }
        for attempt in attempts where !attempt.accepted {
            var facts = ["by \(attempt.channel)"]
            if let key = attempt.apiKey { facts.append("API key \(key)") }
            add(
                attempt.recordedAt, "refused", "Refused: \(attempt.decidedBy)'s \(attempt.decision.rawValue)",
                ([attempt.reason ?? "no reason recorded"] + facts).joined(separator: " · "))
        }
        return entries.sorted { ($0.at, $0.order) < ($1.at, $1.order) }
    }

    /// An event of the history as a person reads it; nil for the engine's bookkeeping.
    static func describe(_ event: HistoryEvent) -> (kind: String, title: String, detail: String?)? {
        let details = event.details
        func text(_ key: String) -> String? { details[key]?.stringValue }
        func number(_ value: JSONValue?) -> Int? {
            guard case .number(let number)? = value else { return nil }
            return Int(number)
        }
        func list(_ value: JSONValue?) -> String {
            guard case .array(let items)? = value else { return "" }
            return items.compactMap(\.stringValue).joined(separator: ", ")
        }
        switch event.type {
        case "ExecutionStarted":
            return ("request", "Request received", nil)
        case "StepSucceeded":
            switch text("Name") {
            case "notify-approvers": return ("notify", "Approvers invited", nil)
            case "remind-approvers": return ("remind", "Reminder sent", list(details["Result"]).nonEmpty ?? "nobody left to remind")
            case "escalate": return ("escalate", "Escalated", list(details["Result"]).nonEmpty)
            default: return nil
            }
        case "StepFailed":
            return ("failed", "Step \(text("Name") ?? "") failed", details["Error"]?["errorMessage"]?.stringValue)
        case "SignalDiscarded":
            // An event about the request that could not be applied: a report that could not be recorded, say.
            return ("failed", "Event not applied", text("Error"))
        case "NotificationsResent":
            return ("notify", "Links resent", [list(details["Approvers"]).nonEmpty ?? "nobody undecided", text("APIKey").map { "by \($0)" }]
                .compactMap { $0 }.joined(separator: " · "))
        case "NotificationDelivered", "NotificationRetrying", "NotificationFailed":
            let result = event.type.dropFirst("Notification".count).lowercased()
            let attempt = number(details["Attempt"]).map { "attempt \($0)" }
            return (
                result == "delivered" ? "delivery" : "failed",
                "\(text("Kind") ?? "notification") to \(text("Approver") ?? "?"): \(result)",
                [attempt, text("Error")].compactMap { $0 }.joined(separator: " · ").nonEmpty)
        case "WebhookDelivered", "WebhookRetrying", "WebhookFailed":
            let result = event.type.dropFirst("Webhook".count).lowercased()
            let attempt = number(details["Attempt"]).map { "attempt \($0)" }
            let status = number(details["StatusCode"]).map { "HTTP \($0)" }
            return (
                result == "delivered" ? "delivery" : "failed", "Webhook \(text("EventType") ?? ""): \(result)",
                [attempt, status, text("Error")].compactMap { $0 }.joined(separator: " · ").nonEmpty)
        case "CancelRequested":
            return ("cancel", "Cancelled", [text("Reason"), text("APIKey").map { "by \($0)" }].compactMap { $0 }.joined(separator: " · "))
        case "CallbackTimedOut":
            return ("end", "Deadline passed", nil)
        case "ExecutionSucceeded":
            let result = details["Result"]
            let status = result?["status"]?.stringValue ?? "ended"
            let by = result?["decidedBy"]?.stringValue.map { " by \($0)" } ?? ""
            return ("end", "Ended: \(status.replacingOccurrences(of: "_", with: " "))\(by)", result?["comment"]?.stringValue)
        case "ExecutionFailed":
            return ("failed", "Workflow failed", details["Error"]?["errorMessage"]?.stringValue)
        default:
            return nil
        }
    }

    static func engineDetail(_ event: HistoryEvent) -> String? {
        [event.details["Name"]?.stringValue, event.details["CallbackId"]?.stringValue].compactMap { $0 }.first
    }

    /// `2026-11-30 11:20:05 UTC`.
    static func when(_ date: Date) -> String {
        let text = Timestamp.format(date)
        return String(text.prefix(19)).replacingOccurrences(of: "T", with: " ") + " UTC"
    }
}

extension String {
    /// Nil when empty.
    var nonEmpty: String? { isEmpty ? nil : self }
}
