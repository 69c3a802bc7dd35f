import Foundation
import GreenlightModels
import Testing

/// A submission's rules between fields are a 422 (the OpenAPI document lists it: JSON Schema cannot state them),
/// a field wrong on its own a 400 (the schema states it); and no combination of values stops the validation.
struct CrossFieldValidationTests {
    func problem(_ json: String) throws -> Problem? {
        let body = try GreenlightJSON.decode(ApprovalRequestBody.self, from: Data(json.utf8))
        guard case .failure(let problem) = body.validate(defaultApprover: "x@example.com") else { return nil }
        return problem
    }

    static let base = #""requestId": "R", "amount": 1, "description": "d""#

    @Test(arguments: [
        (#""timeoutSeconds": 60, "heartbeatTimeoutSeconds": 61"#, "heartbeatTimeoutSeconds"),
        (#""timeoutSeconds": 60, "remindAfterSeconds": 60"#, "remindAfterSeconds"),
        (#""timeoutSeconds": 60, "escalateAfterSeconds": 60, "escalateTo": ["boss@example.com"]"#, "escalateAfterSeconds"),
        (#""escalateAfterSeconds": 60"#, "escalateTo"),
        (#""escalateAfterSeconds": 60, "escalateTo": ["x@example.com"]"#, "escalateTo"),
        (#""escalateTo": ["boss@example.com"]"#, "escalateAfterSeconds"),
        (#""approvers": ["a@example.com"], "policy": {"quorum": 2}"#, "policy"),
        (#""approvers": ["a@example.com", "b@example.com"], "notify": "webhook""#, "notify"),
        (#""callbackSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYq=""#, "callbackUrl"),
        (#""responseSchema": {"properties": {"n": {"type": "number", "minimum": 2, "maximum": 1}}}"#, "responseSchema.properties.n.minimum"),
        (#""responseSchema": {"properties": {"n": {"type": "string"}}, "required": ["m"]}"#, "responseSchema.required[0]"),
        (#""responseSchema": {"properties": {"n": {"type": "string", "enum": [1]}}}"#, "responseSchema.properties.n.enum[0]"),
        (#""responseSchema": {"properties": {"n": {"type": "boolean", "maxLength": 3}}}"#, "responseSchema.properties.n.maxLength"),
    ])
    func fieldsThatDoNotFitTogetherAreA422(fields: String, named: String) throws {
        let problem = try #require(try problem("{\(Self.base), \(fields)}"))
        #expect(problem.status == 422)
        #expect(problem.type == "https://greenlight.dev/problems/inconsistent-fields")
        #expect(problem.errors?.map(\.field) == [named])
    }

    /// Bounds the schema states: a 400, whatever the other fields say.
    @Test(arguments: [
        (#""heartbeatTimeoutSeconds": 2592001"#, "heartbeatTimeoutSeconds"),
        (#""remindAfterSeconds": 2592000"#, "remindAfterSeconds"),
        (#""escalateAfterSeconds": 0, "escalateTo": ["boss@example.com"]"#, "escalateAfterSeconds"),
        (#""approvers": ["a@example.com"], "policy": {"quorum": 21}"#, "policy"),
        (#""approvers": ["a@example.com"], "policy": {"quorum": 0}"#, "policy"),
    ])
    func aFieldOutOfItsOwnBoundsIsA400(fields: String, named: String) throws {
        let problem = try #require(try problem("{\(Self.base), \(fields)}"))
        #expect(problem.status == 400)
        #expect(problem.errors?.map(\.field) == [named])
    }

    @Test func escalateToIsBoundedAlone() throws {
        // 21 addresses as sent (one twice): too many, though 20 are left once the repeat is removed.
        let list = (0..<21).map { "\"a\($0 % 20)@example.com\"" }.joined(separator: ", ")
        let problem = try #require(try problem("{\(Self.base), \"escalateAfterSeconds\": 60, \"escalateTo\": [\(list)]}"))
        #expect(problem.status == 400)
        #expect(problem.errors?.map(\.field).contains("escalateTo") == true)
    }

    /// Found by Schemathesis: a negative timeout with a heartbeat (or an empty approver list with a quorum) made
    /// a range whose upper bound was below its lower one, and the intake crashed.
    @Test(arguments: [
        #""timeoutSeconds": -488, "heartbeatTimeoutSeconds": 9951"#,
        #""timeoutSeconds": -488, "remindAfterSeconds": 10"#,
        #""timeoutSeconds": 0, "escalateAfterSeconds": 10, "escalateTo": ["boss@example.com"]"#,
        #""approvers": [], "policy": {"quorum": 2}"#,
    ])
    func valuesThatCannotBeComparedAreRefusedWithoutACrash(fields: String) throws {
        let problem = try #require(try problem("{\(Self.base), \(fields)}"))
        #expect(problem.status == 400)
    }
}
