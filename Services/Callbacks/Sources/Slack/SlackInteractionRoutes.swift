import ApprovalStore
import Foundation
import GreenlightModels
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import ServiceSupport

/// `POST /v1/slack/interactions`, the app's Interactivity Request URL: a press of a direct message's Approve or
/// Reject button (`block_actions`) and the modal's submission (`view_submission`), as Slack posts them (a form with
/// one `payload` field of JSON). Each must carry Slack's signature (401 otherwise); a button counts only for the Slack
/// user it was sent to (403), and only as its link token's approver, under the token's rules (used, expired,
/// decided: refused as a click would be); then it is the same `DecisionSubmitted` a click publishes, on channel
/// `slack`. A request whose rules need answers or a reason opens a modal first, checked like the review form.
public struct SlackInteractionRoutes: Sendable {
    let tokens: any LinkTokenReading
    let publisher: any EventPublishing
    let signature: SlackSignature
    /// For `views.open`; nil when no bot token is set (a request that needs a modal is then answered 503).
    let api: SlackWebAPI?
    let now: @Sendable () -> Date

    public init(
        tokens: any LinkTokenReading, publisher: any EventPublishing, signingSecret: String, slack: SlackSettings?,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.tokens = tokens
        self.publisher = publisher
        signature = SlackSignature(secret: signingSecret)
        api = slack.map(SlackWebAPI.init(settings:))
        self.now = now
    }

    static let signatureHeader = HTTPField.Name("X-Slack-Signature")!
    static let timestampHeader = HTTPField.Name("X-Slack-Request-Timestamp")!

    public func register(on router: Router<GreenlightRequestContext>) {
        router.post("v1/slack/interactions") { request, context in
            try await handle(request, context: context)
        }
    }

    func handle(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        var request = request
        let body = Array(try await request.collectBody(upTo: 256 * 1024).readableBytesView)
        do {
            try signature.check(
                body: body, timestamp: request.headers[Self.timestampHeader], signature: request.headers[Self.signatureHeader],
                now: now())
        } catch {
            Counter(label: "greenlight_slack_interactions_total", dimensions: [("result", "unsigned")]).increment()
            context.logger.notice("Slack interaction refused", metadata: ["reason": "\(error)"])
            return Self.text(.unauthorized, "Refused: \(error).")
        }
        guard let form = try? URLEncodedFormDecoder().decode([String: String].self, from: String(decoding: body, as: UTF8.self)),
            let text = form["payload"], let payload = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        else {
            return Self.text(.badRequest, "Not a Slack interaction: the body must be a form with a JSON payload field.")
        }
        let user = payload["user"]?["id"]?.stringValue ?? ""
        switch payload["type"]?.stringValue {
        case "block_actions": return await buttonPressed(payload, user: user, context: context)
        case "view_submission": return await modalSubmitted(payload, user: user, context: context)
        // Anything else (a closed modal, a shortcut) is not ours to act on.
        default: return Response(status: .ok)
        }
    }

    // MARK: - Buttons

    func buttonPressed(_ payload: JSONValue, user: String, context: GreenlightRequestContext) async -> Response {
        guard case .array(let actions)? = payload["actions"], let action = actions.first,
            let decision = SlackButton.decision(forAction: action["action_id"]?.stringValue ?? "")
        else {
            // The Review link button, or a button that is not ours: nothing to decide.
            return Response(status: .ok)
        }
        guard let button = SlackButton.parse(action["value"]?.stringValue ?? ""), LinkToken.isWellFormed(button.token) else {
            return Self.text(.badRequest, "Not a Greenlight button.")
        }
        // A button is its recipient's: someone else pressing it (a forwarded or shared message) is refused.
        guard user == button.slackUser else {
            return refuse(.forbidden, "this button was sent to another Slack user", context: context)
        }
        let record: LinkTokenRecord
        switch await lookUp(button.token, context: context) {
        case .refused(let response): return response
        case .usable(let found): record = found
        }
        if SlackModal.isNeeded(decision, record: record) {
            guard let api, let trigger = payload["trigger_id"]?.stringValue else {
                return refuse(
                    .serviceUnavailable, "this request needs answers, and no GREENLIGHT_SLACK_BOT_TOKEN is set to ask for them",
                    context: context)
            }
            let view = SlackModal.view(decision, record: record, token: button.token, slackUser: button.slackUser)
            do throws(SlackError) {
                try await api.openView(triggerId: trigger, view: view)
            } catch {
                context.logger.error("Could not open the Slack modal", metadata: ["requestId": "\(record.requestId)", "error": "\(error)"])
                return Self.text(.badGateway, "Slack did not open the form; press the button again.")
            }
            Counter(label: "greenlight_slack_interactions_total", dimensions: [("result", "modal")]).increment()
            return Response(status: .ok)
        }
        return await publish(decision, record: record, comment: nil, response: nil, context: context)
            ?? Response(status: .ok)
    }

    // MARK: - The modal

    func modalSubmitted(_ payload: JSONValue, user: String, context: GreenlightRequestContext) async -> Response {
        let view = payload["view"]
        guard view?["callback_id"]?.stringValue == SlackButton.modalCallbackId else { return Response(status: .ok) }
        guard let metadata = SlackButton.parseModalMetadata(view?["private_metadata"]?.stringValue ?? ""),
            LinkToken.isWellFormed(metadata.token)
        else { return Self.text(.badRequest, "Not a Greenlight form.") }
        guard user == metadata.slackUser else {
            return refuse(.forbidden, "this form was opened for another Slack user", context: context)
        }
        let record: LinkTokenRecord
        switch await lookUp(metadata.token, context: context) {
        case .refused(let response):
            // Shown under the form's last field: the request cannot take this decision any more.
            return Self.errors([SlackModal.commentBlock: Self.sentence(for: response.status)])
        case .usable(let found): record = found
        }
        let fields = SlackModal.formFields(of: view)
        let comment = fields[SlackModal.commentBlock].map { String($0.prefix(1000)) }.flatMap { $0.isEmpty ? nil : $0 }
        let (response, problems) = record.content.answers(to: metadata.decision, comment: comment, form: fields)
        if !problems.isEmpty {
            var errors: [String: String] = [:]
            for problem in problems {
                let block = problem.field.hasPrefix("response.") ? problem.field : SlackModal.commentBlock
                errors[block] = errors[block].map { "\($0); \(problem.message)" } ?? problem.message
            }
            return Self.errors(errors)
        }
        if let failed = await publish(metadata.decision, record: record, comment: comment, response: response, context: context) {
            return failed.status == .serviceUnavailable
                ? Self.errors([SlackModal.commentBlock: "Greenlight could not take the decision just now; submit again."])
                : failed
        }
        // An empty 200 closes the modal.
        return Response(status: .ok)
    }

    // MARK: - Shared

    private enum Lookup {
        case usable(LinkTokenRecord)
        case refused(Response)
    }

    /// The token's record when it may still decide, under the same rules as a click.
    private func lookUp(_ token: String, context: GreenlightRequestContext) async -> Lookup {
        let tokens = self.tokens
        let record: LinkTokenRecord?
        do {
            record = try await withDeadline(AnswerBudget.read, "Looking up the button's link") {
                try await tokens.linkToken(hash: LinkToken.hash(token))
            }
        } catch {
            context.logger.error("Token look-up failed", metadata: ["error": "\(error)"])
            return .refused(Self.text(.serviceUnavailable, "Greenlight cannot check the button just now; try again shortly."))
        }
        guard let record else { return .refused(refuse(.notFound, "the button's link is not known", context: context)) }
        switch record.unusable {
        case .expired?: return .refused(refuse(.gone, "the request's link has expired", context: context))
        case .alreadyDecided?:
            return .refused(refuse(.conflict, "the button was used already, or the request was decided", context: context))
        case nil: return .usable(record)
        }
    }

    /// Publishes the decision as a click would; nil once it is with the broker or stored for it, or the answer that
    /// says it could not be.
    private func publish(
        _ decision: Decision, record: LinkTokenRecord, comment: String?, response: JSONValue?,
        context: GreenlightRequestContext
    ) async -> Response? {
        let event = DecisionSubmitted(
            requestId: record.requestId, decision: decision, decidedBy: record.approver, channel: .slack, comment: comment,
            decidedAt: record.readAt, tokenHash: record.tokenHash, response: response)
        return await inSpan("decide by Slack", continuing: record.trace ?? TraceContext.continuing(nil)) { trace in
            do {
                try await publisher.publish(event, trace: trace)
            } catch {
                context.logger.error(
                    "Could not publish DecisionSubmitted", metadata: ["requestId": "\(record.requestId)", "error": "\(error)"])
                return Self.text(.serviceUnavailable, "Greenlight could not take the decision just now; press the button again.")
            }
            Counter(label: "greenlight_slack_interactions_total", dimensions: [("result", "decided")]).increment()
            context.logger.info(
                "Decision submitted from Slack",
                metadata: ["requestId": "\(record.requestId)", "eventId": "\(event.eventId)", "decision": "\(decision.rawValue)"])
            return nil
        }
    }

    private func refuse(_ status: HTTPResponse.Status, _ reason: String, context: GreenlightRequestContext) -> Response {
        Counter(label: "greenlight_slack_interactions_total", dimensions: [("result", "refused")]).increment()
        context.logger.notice("Slack interaction refused", metadata: ["reason": "\(reason)"])
        return Self.text(status, "Refused: \(reason).")
    }

    static func sentence(for status: HTTPResponse.Status) -> String {
        switch status {
        case .gone: "This request's link has expired."
        case .conflict: "This request was decided already."
        case .forbidden: "This form was opened for someone else."
        default: "This request cannot be decided from here now."
        }
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// `response_action: errors`: the modal stays open with each message under its block.
    static func errors(_ errors: [String: String]) -> Response {
        let body: JSONValue = .object(["response_action": .string("errors"), "errors": .object(errors.mapValues(JSONValue.string))])
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: (try? GreenlightJSON.encode(body)) ?? Data())))
    }
}
