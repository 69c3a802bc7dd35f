import ApprovalStore
import Foundation
import GreenlightModels

/// The modal that asks a Slack approver for what the request's rules need before a decision counts: its typed
/// answers (`responseSchema`) and its reason (`requireReason`). Field blocks are named `response.<name>` and
/// `comment`, like the review page's form fields and the rules' error fields, so an error lands under its field.
enum SlackModal {
    static let commentBlock = "comment"

    /// Whether a decision through this link needs the modal: the request asks for answers, or for this decision's
    /// reason.
    static func isNeeded(_ decision: Decision, record: LinkTokenRecord) -> Bool {
        record.content.responseSchema != nil || record.content.requireReason?.requires(decision) == true
    }

    static func view(_ decision: Decision, record: LinkTokenRecord, token: String, slackUser: String) -> JSONValue {
        let verb = decision == .approve ? "Approve" : "Reject"
        var summary = record.content.title.map { "*\(mrkdwn($0))*\n" } ?? ""
        summary += mrkdwn(record.description)
        if let amount = HumanFormat.amount(record.amount, currency: record.currency) { summary += "\n*Amount:* \(mrkdwn(amount))" }
        let text: JSONValue = .object(["type": .string("mrkdwn"), "text": .string(String(summary.prefix(2900)))])
        var blocks: [JSONValue] = [.object(["type": .string("section"), "text": text])]
        if let schema = record.content.responseSchema {
            for (name, field) in schema.orderedFields {
                blocks.append(input(name: name, field: field, optional: !schema.required.contains(name)))
            }
        }
        let reasonRequired = record.content.requireReason?.requires(decision) == true
        blocks.append(
            .object([
                "type": .string("input"), "block_id": .string(commentBlock), "optional": .bool(!reasonRequired),
                "label": plain(reasonRequired ? "Reason" : "Comment"),
                "element": .object([
                    "type": .string("plain_text_input"), "action_id": .string("value"), "multiline": .bool(true),
                    "max_length": .number(1000),
                ]),
            ]))
        return .object([
            "type": .string("modal"), "callback_id": .string(SlackButton.modalCallbackId),
            "private_metadata": .string(SlackButton.modalMetadata(decision: decision, token: token, slackUser: slackUser)),
            "title": plain("\(verb) request"), "submit": plain(verb), "close": plain("Cancel"), "blocks": .array(blocks),
        ])
    }

    /// One answer's input: a menu for a field with `enum`, a checkbox for a boolean, a text box otherwise.
    static func input(name: String, field: ResponseField, optional: Bool) -> JSONValue {
        let element: JSONValue
        if let choices = field.enum, !choices.isEmpty {
            element = .object([
                "type": .string("static_select"), "action_id": .string("value"),
                "options": .array(choices.map { choice in
                    let text = choice.stringValue ?? choice.jsonText
                    return .object(["text": plain(String(text.prefix(75))), "value": .string(String(text.prefix(150)))])
                }),
            ])
        } else if field.type == .boolean {
            element = .object([
                "type": .string("checkboxes"), "action_id": .string("value"),
                "options": .array([.object(["text": plain("Yes"), "value": .string("true")])]),
            ])
        } else {
            var text: [String: JSONValue] = ["type": .string("plain_text_input"), "action_id": .string("value")]
            if field.type == .string { text["max_length"] = .number(Double(min(field.effectiveMaxLength, 3000))) }
            element = .object(text)
        }
        var block: [String: JSONValue] = [
            "type": .string("input"), "block_id": .string("response.\(name)"), "optional": .bool(optional || field.type == .boolean),
            "label": plain(String(field.label(name).prefix(2000))), "element": element,
        ]
        if let hint = field.description { block["hint"] = plain(String(hint.prefix(2000))) }
        return .object(block)
    }

    /// The submitted values as the review form would post them (`response.<name>` and `comment` → text): a menu's
    /// chosen value, a ticked checkbox as `true` (unticked: absent, which reads as false), a text box's text.
    static func formFields(of view: JSONValue?) -> [String: String] {
        guard case .object(let values)? = view?["state"]?["values"] else { return [:] }
        var fields: [String: String] = [:]
        for (block, actions) in values {
            guard let action = actions["value"] else { continue }
            if let text = action["value"]?.stringValue {
                fields[block] = text
            } else if let chosen = action["selected_option"]?["value"]?.stringValue {
                fields[block] = chosen
            } else if case .array(let ticked)? = action["selected_options"], !ticked.isEmpty {
                fields[block] = "true"
            }
        }
        return fields
    }

    static func plain(_ text: String) -> JSONValue {
        .object(["type": .string("plain_text"), "text": .string(text)])
    }

    /// Slack's mrkdwn treats `&`, `<` and `>` as markup.
    static func mrkdwn(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
