@testable import Callbacks
import Foundation
import GreenlightModels
@testable import Notifier
@testable import Templates
import Testing

/// Page and email values are read through their `Encodable` conformance (`TemplateFields`) instead of a `Mirror`;
/// templates see exactly what reflection showed them.
struct TemplateFieldsTests {
    /// Every page's and email's values, with every kind of property set (nested values, lists of values, optionals
    /// nil and present, numbers, booleans, a schema's fields with their options), give the same table read either
    /// way.
    @Test func pageAndEmailValuesReadTheSameAsByReflection() throws {
        var page = PageValues()
        let shown = ContentDisplay(
            title: "A laptop", details: .object(["team": .string("platform")]),
            links: [RequestLink(url: "https://example.com/q", label: "quote")],
            action: AgentAction(tool: "deploy", arguments: .object(["env": .string("prod")])))
        page.request = PageValues.Request(
            id: "REQ-1", description: "Laptop", amount: "USD 1,200.00", requester: "dev@example.com",
            submitted: "2026-12-04 10:00 UTC", expires: "2026-12-05 10:00 UTC", title: shown.title, details: shown.details,
            links: shown.links, action: shown.action)
        #expect(shown.details.count == 1 && shown.links.count == 1 && shown.action != nil)
        page.approver = "a@example.com"
        page.policy = PageValues.Policy(all: false, quorum: 2, approvers: 3)
        page.status = PageValues.Status(.pending)
        page.decision = PageValues.Choice(.approve)
        let content = RequestContent(
            responseSchema: ResponseSchema(
                properties: [
                    "risk": ResponseField(type: .string, title: "Risk", enum: [.string("low"), .string("high")]),
                    "cost": ResponseField(type: .number, minimum: 0, maximum: 10),
                    "note": ResponseField(type: .string, maxLength: 200),
                ],
                required: ["risk"]),
            requireReason: .reject)
        page.forms = [
            PageValues.Form(.approve, token: "TOKEN", commentId: "c1", content: content, entered: ["response.risk": "high"]),
            PageValues.Form(.reject, token: "TOKEN", commentId: "c2", content: content, entered: ["comment": "no"]),
        ]
        page.approvals = 1
        page.needed = 2
        page.errors = ["Risk: choose one"]
        #expect(page.forms[0].fields.count == 3)
        // Read through the conformance, not a Mirror: every struct of the page's has it.
        #expect(ReflectedValues.shape(of: page) == .encodedFields)
        #expect(ReflectedValues.shape(of: page.forms[0].fields[0].options[0]) == .encodedFields)
        #expect(FieldsEncoder.fields(of: page) != nil)
        try expectSameTable(page)
        try expectSameTable(PageValues())

        let notification = NotificationRequested(
            requestId: "REQ-9", executionId: UUID(), approver: "a@example.com", tokenNonce: UUID(), amount: 1200,
            currency: "USD", description: "Laptop <pro> & dock", requester: nil,
            submittedAt: Date(timeIntervalSince1970: 1_800_000_000), expiresAt: Date(timeIntervalSince1970: 1_800_086_400))
        var email = EmailValues(notification, now: Date(timeIntervalSince1970: 1_800_000_000))
        email.approveURL = "https://approvals.example.com/approve/T"
        #expect(ReflectedValues.shape(of: email) == .encodedFields)
        #expect(FieldsEncoder.fields(of: email) != nil)
        try expectSameTable(email)
    }

    /// A value that encodes itself otherwise than as one keyed container of its properties (a custom `encode(to:)`,
    /// here a single string) is read by reflection, as if it did not conform: the template still sees its properties.
    @Test func aValueThatEncodesItselfOtherwiseIsReflected() throws {
        let value = Wrapped(inner: Wrapped.Inner(name: "n", count: 2))
        #expect(FieldsEncoder.fields(of: value.inner) == nil)
        try expectSameTable(value)
        let table = try #require(ReflectedValues.reflect(value) as? ReflectedValues)
        let inner = try #require(table.child(named: "inner") as? ReflectedValues)
        #expect(inner.child(named: "name") as? String == "n")
        #expect(inner.child(named: "count") as? Int == 2)
    }

    struct Wrapped: TemplateFields {
        struct Inner: TemplateFields {
            var name: String
            var count: Int

            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                try container.encode("\(name)×\(count)")
            }
        }

        var inner: Inner
    }

    /// `value` read through `TemplateFields` and by a `Mirror` alone, described alike.
    private func expectSameTable(_ value: Any, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let encoded = describe(ReflectedValues.reflect(value))
        let mirrored = describe(Self.mirroredOnly(value))
        #expect(encoded == mirrored, sourceLocation: sourceLocation)
        #expect(encoded.hasPrefix("{"), sourceLocation: sourceLocation)
    }

    /// What `ReflectedValues.reflect` made before `TemplateFields`: every struct read with a `Mirror`.
    private static func mirroredOnly(_ value: Any) -> Any {
        switch ReflectedValues.shape(of: value) {
        case .asItIs, .other:
            return value
        case .array:
            guard let array = value as? [Any] else { return value }
            if array.allSatisfy({ ReflectedValues.shape(of: $0) == .asItIs }) { return value }
            return array.map(mirroredOnly)
        case .optional:
            guard let optional = Mirror(reflecting: value).children.first?.value else { return value }
            return mirroredOnly(optional)
        case .fields, .encodedFields:
            var fields: [String: Any] = [:]
            for child in Mirror(reflecting: value).children {
                guard let label = child.label else { continue }
                if ReflectedValues.shape(of: child.value) == .optional, Mirror(reflecting: child.value).children.isEmpty {
                    continue
                }
                fields[label] = mirroredOnly(child.value)
            }
            return ReflectedValues(fields: fields, original: value)
        }
    }

    /// A table, list or value as text: tables by sorted key, each value with its type.
    private func describe(_ value: Any) -> String {
        if let table = value as? ReflectedValues {
            return "{" + table.fields.keys.sorted().map { "\($0): \(describe(table.fields[$0]!))" }.joined(separator: ", ")
                + "}"
        }
        if let list = value as? [Any] { return "[" + list.map(describe).joined(separator: ", ") + "]" }
        return "\(type(of: value))(\(value))"
    }
}
