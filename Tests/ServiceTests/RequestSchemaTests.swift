import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing
import Yams

/// deploy/openapi.yaml's `ApprovalRequest` states which fields need which, and which keywords a response field's type
/// takes; intake's validator refuses what the schema refuses there, and accepts what it accepts. Each body is checked
/// both ways: against the published schema (JSON Schema 2020-12, with Debian's python3-jsonschema through
/// scripts/check-event-schema) and by `ApprovalRequestBody.validate`.
struct RequestSchemaTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    static let base = #""requestId": "R-1", "description": "d", "approvers": ["a@example.com"]"#
    static func field(_ text: String) -> String {
        #"\#(base), "responseSchema": {"properties": {"f": \#(text)}}"#
    }

    static let cases: [(body: String, valid: Bool)] = [
        (base, true),
        (#"\#(base), "callbackSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw""#, false),
        (#"\#(base), "callbackSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "callbackUrl": "https://example.com/hook""#, true),
        (#"\#(base), "callbackLifecycle": true"#, false),
        (#"\#(base), "callbackLifecycle": false"#, true),
        (#"\#(base), "escalateAfterSeconds": 60"#, false),
        (#"\#(base), "escalateAfterSeconds": 60, "escalateTo": []"#, false),
        (#"\#(base), "escalateTo": ["b@example.com"]"#, false),
        (#"\#(base), "escalateTo": []"#, true),
        (#"\#(base), "escalateAfterSeconds": 60, "escalateTo": ["b@example.com"]"#, true),
        (field(#"{"type": "number", "enum": ["one"]}"#), false),
        (field(#"{"type": "number", "enum": [1, 2.5]}"#), true),
        (field(#"{"type": "integer", "enum": [1.5]}"#), false),
        (field(#"{"type": "integer", "enum": [1, 2]}"#), true),
        (field(#"{"type": "string", "enum": [1]}"#), false),
        (field(#"{"type": "string", "enum": ["a"], "maxLength": 5}"#), true),
        (field(#"{"type": "string", "minimum": 1}"#), false),
        (field(#"{"type": "number", "maxLength": 5}"#), false),
        (field(#"{"type": "integer", "minimum": 1, "maximum": 5}"#), true),
        (field(#"{"type": "boolean", "enum": [true]}"#), false),
        (field(#"{"type": "boolean", "minimum": 0}"#), false),
        (field(#"{"type": "boolean"}"#), true),
        (#"\#(base), "responseSchema": {"properties": {"f": {"type": "string"}}, "required": ["f", "f"]}"#, false),
    ]

    @Test func theSchemaAndTheValidatorAgreeOnWhichFieldsNeedWhich() async throws {
        let directory = TestEnvironment.scratchPath("request-schema-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        // The document's schemas as JSON, with the request's at the root: its $refs resolve within the file.
        let text = try String(contentsOf: Self.root.appendingPathComponent("deploy/openapi.yaml"), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let components = try #require(document["components"] as? [String: Any])
        let schemas = try #require(components["schemas"] as? [String: Any])
        let schema: [String: Any] = ["$ref": "#/components/schemas/ApprovalRequest", "components": ["schemas": schemas]]
        try #require(JSONSerialization.isValidJSONObject(schema), "the schemas hold a value JSON cannot carry")
        let schemaPath = "\(directory)/approval-request.schema.json"
        try JSONSerialization.data(withJSONObject: schema).write(to: URL(fileURLWithPath: schemaPath))

        for (index, testCase) in Self.cases.enumerated() {
            let body = "{\(testCase.body)}"
            let path = "\(directory)/body-\(index).json"
            try Data(body.utf8).write(to: URL(fileURLWithPath: path))
            let log = "\(directory)/check-\(index).log"
            let status = try await ChildProcess.shell(
                "/usr/bin/python3 \(Self.root.path)/scripts/check-event-schema \(schemaPath) \(path)", logPath: log)
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect((status == 0) == testCase.valid, "the schema on \(body): \(output)")

            let decoded = try GreenlightJSON.decode(ApprovalRequestBody.self, from: Data(body.utf8))
            let verdict = decoded.validate(defaultApprover: "default@example.com")
            let refusal: String
            switch verdict {
            case .success: refusal = ""
            case .failure(let problem): refusal = "\(problem)"
            }
            #expect(refusal.isEmpty == testCase.valid, "the validator on \(body): \(refusal)")
        }
    }
}
