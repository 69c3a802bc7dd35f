import DurableExecution
import GreenlightModels
import ServiceSupport

extension IntakeRoutes {
    /// A `callbackUrl` naming this machine or a private, link-local or other special address (as a literal, or
    /// `localhost`) is refused now, with 422; names are resolved and checked again by the notifier before each POST.
    static func checkCallbackAddress(_ request: ValidatedApprovalRequest) throws {
        guard let url = request.callbackUrl, let refusal = CallbackAddress.refusal(url: url, allowPrivate: false) else { return }
        throw Problem(
            type: "https://greenlight.dev/problems/callback-address", title: "Callback address refused", status: 422,
            detail: "callbackUrl \(refusal): outcome webhooks go only to public addresses unless the deployment sets "
                + "GREENLIGHT_CALLBACK_ALLOW_PRIVATE=true.",
            errors: [.init(field: "callbackUrl", message: "\(refusal); not allowed without GREENLIGHT_CALLBACK_ALLOW_PRIVATE=true")])
    }

    /// A history event as intake shows it: the request's `callbackSecret`, which signs its webhooks, is in the
    /// execution's input (`ExecutionStarted`) and is masked there; the history shows that there was one, not what.
    static func withoutCallbackSecret(_ event: HistoryEvent) -> HistoryEvent {
        guard case .object(var input) = event.details["Input"], input["callbackSecret"] != nil else { return event }
        var event = event
        input["callbackSecret"] = .string("***")
        event.details["Input"] = .object(input)
        return event
    }
}
