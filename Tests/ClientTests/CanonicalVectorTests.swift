import Foundation
import GreenlightModels
import Testing

/// The digest vectors the Python client's tests also check (clients/python/tests/vectors.json): the two clients and
/// intake compute the same canonical JSON and the same `actionDigest` for the same action.
struct CanonicalVectorTests {
    @Test func swiftComputesTheSharedVectorsAsPythonDoes() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../clients/python/tests/vectors.json").standardized
        struct Vector: Decodable {
            var action: AgentAction
            var canonical: String
            var digest: String
        }
        struct Vectors: Decodable {
            var actions: [Vector]
        }
        let vectors = try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: url)).actions
        #expect(vectors.count >= 3)
        for vector in vectors {
            #expect(JSONCanonical.text(vector.action.json) == vector.canonical)
            #expect(vector.action.digest == vector.digest)
        }
    }
}
