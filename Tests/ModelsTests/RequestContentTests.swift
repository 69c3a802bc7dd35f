import Foundation
import GreenlightModels
import Testing

@Suite struct RequestContentTests {
    func json(_ text: String) throws -> JSONValue {
        try GreenlightJSON.decode(JSONValue.self, from: Data(text.utf8))
    }

    /// RFC 8785's own example (section 3.2.3): member order, number forms and string escapes.
    @Test func canonicalJSONIsRFC8785s() throws {
        let input = #"""
            {"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
             "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
             "literals": [null, true, false]}
            """#
        #expect(
            JSONCanonical.text(try json(input))
                == #"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        )
    }

    /// ECMAScript's number forms (RFC 8785 appendix B), where plain notation turns into exponents and back.
    @Test(arguments: [
        (0.0, "0"), (-0.0, "0"), (1.0, "1"), (-1.5, "-1.5"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"), (1e-6, "0.000001"), (1e-7, "1e-7"),
        (9007199254740992.0, "9007199254740992"), (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.1, "0.1"), (100.0, "100"), (1.5e-7, "1.5e-7"), (295147905179352830000.0, "295147905179352830000"),
    ])
    func numbersAreWrittenAsECMAScriptWritesThem(value: Double, text: String) {
        #expect(JSONCanonical.number(value) == text)
    }

    /// Members sort by UTF-16 code units, not by Unicode scalars: "\u{10000}" (a surrogate pair, D800 DC00) sorts
    /// before "\u{FB33}".
    @Test func membersSortByUTF16CodeUnits() {
        let value = JSONValue.object(["\u{FB33}": .number(1), "\u{10000}": .number(2), "a": .number(3)])
        #expect(JSONCanonical.text(value) == "{\"a\":3,\"\u{10000}\":2,\"\u{FB33}\":1}")
    }

    /// The digest does not depend on how the action was spelled: spacing, member order, number forms.
    @Test func anActionsDigestIsOfItsCanonicalJSON() throws {
        let one = AgentAction(tool: "deploy", arguments: try json(#"{"service": "api", "replicas": 3, "canary": true}"#))
        let two = AgentAction(tool: "deploy", arguments: try json(#"{ "canary":true,"replicas":3.0 , "service":"api"}"#))
        #expect(one.digest == two.digest)
        #expect(JSONCanonical.text(one.json) == #"{"arguments":{"canary":true,"replicas":3,"service":"api"},"tool":"deploy"}"#)
        // sha256 of the canonical text above, computed independently (printf … | sha256sum).
        #expect(one.digest == "eebb9a8e62d10ba2cd19c9af675697d428ae119c8d3afec506c40baefebacb3e")
        let edited = AgentAction(tool: "deploy", arguments: try json(#"{"service": "api", "replicas": 30, "canary": true}"#))
        #expect(edited.digest != one.digest)
    }

    func schema(_ text: String) throws -> ResponseSchema {
        try GreenlightJSON.decode(ResponseSchema.self, from: Data(text.utf8))
    }

    @Test func answersAreCheckedAgainstTheSchema() throws {
        let schema = try schema(
            #"""
            {"type": "object", "required": ["ticket", "risk"],
             "properties": {"ticket": {"type": "string", "maxLength": 10},
                            "risk": {"type": "string", "enum": ["low", "high"]},
                            "replicas": {"type": "integer", "minimum": 1, "maximum": 5},
                            "rollback": {"type": "boolean"}}}
            """#)
        #expect(schema.problems().isEmpty)
        #expect(schema.check(try json(#"{"ticket": "OPS-1", "risk": "low", "replicas": 2, "rollback": true}"#)).isEmpty)
        let fields = { (answers: String) in try schema.check(self.json(answers)).map(\.field) }
        #expect(try fields(#"{"risk": "low"}"#) == ["response.ticket"])
        #expect(try fields(#"{"ticket": "OPS-1", "risk": "medium"}"#) == ["response.risk"])
        #expect(try fields(#"{"ticket": "OPS-12345678", "risk": "low"}"#) == ["response.ticket"])
        #expect(try fields(#"{"ticket": "T", "risk": "low", "replicas": 2.5}"#) == ["response.replicas"])
        #expect(try fields(#"{"ticket": "T", "risk": "low", "replicas": 9}"#) == ["response.replicas"])
        #expect(try fields(#"{"ticket": "T", "risk": "low", "rollback": "yes"}"#) == ["response.rollback"])
        #expect(try fields(#"{"ticket": "T", "risk": "low", "extra": 1}"#) == ["response.extra"])
        #expect(schema.check(.array([])).map(\.field) == ["response"])
        // The page shows the required fields first, as listed, then the rest by name.
        #expect(schema.orderedFields.map(\.name) == ["ticket", "risk", "replicas", "rollback"])
    }

    @Test func aFormsTextBecomesTypedAnswers() throws {
        let schema = try schema(
            #"{"properties": {"n": {"type": "number"}, "ok": {"type": "boolean"}, "note": {"type": "string"}}}"#)
        let (answers, errors) = schema.answers(fromForm: ["response.n": "2.5", "response.ok": "true", "response.note": ""])
        #expect(errors.isEmpty)
        #expect(answers == .object(["n": .number(2.5), "ok": .bool(true)]))
        #expect(schema.answers(fromForm: ["response.n": "two"]).1.map(\.field) == ["response.n"])
        #expect(schema.answers(fromForm: [:]).0 == .object(["ok": .bool(false)]))
    }

    /// A keyword Greenlight would not enforce is refused by name, not ignored.
    @Test func unsupportedKeywordsAreRefused() throws {
        #expect(throws: DecodingError.self) { try self.schema(#"{"properties": {"n": {"type": "string", "pattern": "^a"}}}"#) }
        #expect(throws: DecodingError.self) { try self.schema(#"{"properties": {}, "oneOf": []}"#) }
        #expect(throws: DecodingError.self) { try self.schema(#"{"type": "array", "properties": {}}"#) }
        #expect(throws: DecodingError.self) { try self.schema(#"{"properties": {"n": {"type": "date"}}}"#) }
        #expect(throws: DecodingError.self) { try self.schema(#"{"properties": {"n": {"type": "string"}}, "description": {}}"#) }
        // Nothing is nullable: a member not meant is left out.
        #expect(throws: DecodingError.self) { try self.schema(#"{"properties": {"n": {"type": "string", "title": null}}}"#) }
        #expect(throws: DecodingError.self) {
            try GreenlightJSON.decode(RequestLink.self, from: Data(#"{"url": "https://x.example", "label": null}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try GreenlightJSON.decode(AgentAction.self, from: Data(#"{"tool": "t", "arguments": {}, "approved": true}"#.utf8))
        }
    }

    @Test func aReasonIsRequiredWhereTheRequestSaysSo() {
        let onReject = RequestContent(requireReason: .reject)
        #expect(onReject.check(.approve, comment: nil, response: nil).isEmpty)
        #expect(onReject.check(.reject, comment: "  ", response: nil).map(\.field) == ["comment"])
        #expect(onReject.check(.reject, comment: "too risky", response: nil).isEmpty)
        let always = RequestContent(requireReason: .always)
        #expect(always.check(.approve, comment: nil, response: nil).map(\.field) == ["comment"])
        // Answers to a request that asks none are refused rather than kept unread.
        #expect(RequestContent().check(.approve, comment: nil, response: .object(["x": .number(1)])).map(\.field) == ["response"])
    }

    @Test func detailsAreShownAsRows() throws {
        let shown = ContentDisplay(
            title: "Deploy", details: try json(#"{"service": "api", "deploy": {"region": "eu", "replicas": 3}, "tags": ["a", "b"], "on": true}"#),
            links: [RequestLink(url: "https://example.com/pr/1", label: nil)], action: nil)
        #expect(shown.details.map { "\($0.label)=\($0.value)" } == ["deploy.region=eu", "deploy.replicas=3", "on=yes", "service=api", "tags=a, b"])
        #expect(shown.links.first?.label == "https://example.com/pr/1")
    }

    /// Today's purchase request (the seed's example) is still a valid request, unchanged; a request without an
    /// amount has no currency unless it names one.
    @Test func amountIsOptional() throws {
        let purchase = try GreenlightJSON.decode(
            ApprovalRequestBody.self, from: Data(#"{"requestId": "REQ-001", "amount": 5000, "description": "New server purchase"}"#.utf8))
        let valid = try purchase.validate(defaultApprover: "a@example.com").get()
        #expect(valid.amount == 5000 && valid.currency == "USD")
        let deploy = try GreenlightJSON.decode(
            ApprovalRequestBody.self,
            from: Data(#"{"requestId": "DEP-1", "title": "Deploy api 2.3", "description": "to production", "details": {"service": "api"}}"#.utf8))
        let request = try deploy.validate(defaultApprover: "a@example.com").get()
        #expect(request.amount == nil && request.currency == nil)
        #expect(request.event(submittedAt: Date()).title == "Deploy api 2.3")
    }
}
