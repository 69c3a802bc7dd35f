import Foundation
import GreenlightModels

/// What reaches a running approval besides time: the events about one request that the approval workflow takes, in
/// arrival order, as the durable engine's signals. Each is stored (while it waits to be received, and in the
/// checkpoint of the receive that took it) as the event itself, so a stored signal reads like the event that carried it.
public enum ApprovalSignal: Codable, Sendable, Equatable {
    /// A decision from a link, the API or another system: a vote, the decision that settles the request, or one
    /// that is refused.
    case decision(DecisionSubmitted)
    case cancel(CancelRequested)
    /// Send the undecided approvers (or the one named) their link again.
    case resend(ResendRequested)
    /// A notifier's report on one message: delivered, retrying or failed.
    case delivery(NotificationDelivery)
    /// Email an approver what became of their decision.
    case receipt(DecisionReceiptRequested)
    /// A notifier's report on one attempt at an outcome webhook: delivered, retrying or failed.
    case webhook(WebhookDelivery)
    /// Move the request from one approver to another.
    case reassign(ReassignRequested)

    /// The signal an inbound event is, if it is one (a request starts the workflow; a callback command goes to the
    /// callback it names).
    public init?(_ event: InboundEvent) {
        switch event {
        case .decisionSubmitted(let decision): self = .decision(decision)
        case .cancelRequested(let cancel): self = .cancel(cancel)
        case .resendRequested(let resend): self = .resend(resend)
        case .notificationDelivery(let report): self = .delivery(report)
        case .receiptRequested(let ask): self = .receipt(ask)
        case .webhookDelivery(let report): self = .webhook(report)
        case .reassignRequested(let reassign): self = .reassign(reassign)
        case .approvalRequested, .callbackCommand, .delegationSet, .delegationCleared: return nil
        }
    }

    public init(from decoder: any Decoder) throws {
        let type = try decoder.container(keyedBy: TypeKey.self).decode(String.self, forKey: .type)
        let value = try decoder.singleValueContainer()
        switch type {
        case DecisionSubmitted.eventType: self = .decision(try value.decode(DecisionSubmitted.self))
        case CancelRequested.eventType: self = .cancel(try value.decode(CancelRequested.self))
        case ResendRequested.eventType: self = .resend(try value.decode(ResendRequested.self))
        case NotificationDelivery.eventType: self = .delivery(try value.decode(NotificationDelivery.self))
        case DecisionReceiptRequested.eventType: self = .receipt(try value.decode(DecisionReceiptRequested.self))
        case WebhookDelivery.eventType: self = .webhook(try value.decode(WebhookDelivery.self))
        case ReassignRequested.eventType: self = .reassign(try value.decode(ReassignRequested.self))
        default:
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "\"\(type)\" is not a signal of the approval workflow"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var value = encoder.singleValueContainer()
        switch self {
        case .decision(let event): try value.encode(event)
        case .cancel(let event): try value.encode(event)
        case .resend(let event): try value.encode(event)
        case .delivery(let event): try value.encode(event)
        case .receipt(let event): try value.encode(event)
        case .webhook(let event): try value.encode(event)
        case .reassign(let event): try value.encode(event)
        }
    }

    private enum TypeKey: String, CodingKey { case type }
}
