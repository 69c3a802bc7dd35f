import Foundation
import GreenlightClient
import GreenlightModels
import GreenlightTestSupport
import Testing
import Yams

/// Both clients against the published contract, deploy/openapi.yaml: every operation they call is documented with
/// that method and its query parameters, and every field they send or read is in the schemas of that operation's
/// body and answers. The Swift client's fields are its shared model types' own (it sends and decodes those); the
/// Python client's are the lists its package exports and checks its calls against (`greenlight_client.manifest()`).
struct ClientOpenAPITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    struct Operation {
        var method: String
        var path: String
        var query: [String]
    }

    struct Fields {
        var sent: Set<String>
        var status: Set<String>
        var accepted: Set<String>
    }

    @Test func theSwiftClientCallsOnlyWhatTheDocumentPromises() throws {
        let document = try OpenAPIDocument.load(Self.root.appendingPathComponent("deploy/openapi.yaml"))
        let operations = GreenlightEndpoint.allCases.map { Operation(method: $0.method, path: $0.pathTemplate, query: $0.queryParameters) }
        // Every stored property, set or not: what the client can send or decode.
        let sent = try Self.propertyNames(of: GreenlightJSON.decode(ApprovalRequestBody.self, from: Data("{}".utf8)))
        let status = try Self.propertyNames(of: GreenlightJSON.decode(RequestStatusBody.self, from: Data(FakeIntake.status("r", "pending").utf8)))
        let accepted = Self.propertyNames(of: RequestAccepted(message: "", requestId: "", statusUrl: ""))
        #expect(sent.isSuperset(of: ["requestId", "title", "description", "details", "action"]))
        #expect(status.isSuperset(of: ["requestId", "status", "actionDigest", "response"]))
        try Self.check(operations, Fields(sent: sent, status: status, accepted: accepted), against: document, client: "Swift")
        try Self.checkProblem(Self.propertyNames(of: Problem(title: "", status: 400, detail: "")), against: document)
    }

    @Test func thePythonClientCallsOnlyWhatTheDocumentPromises() async throws {
        let document = try OpenAPIDocument.load(Self.root.appendingPathComponent("deploy/openapi.yaml"))
        let manifest = try await Self.pythonManifest()
        let endpoints = try #require(manifest["endpoints"] as? [[String: Any]])
        #expect(Set(endpoints.compactMap { $0["name"] as? String }) == ["submit", "status", "outcome"])
        let operations = endpoints.map {
            Operation(method: $0["method"] as? String ?? "", path: $0["path"] as? String ?? "", query: $0["query"] as? [String] ?? [])
        }
        let fields = Fields(
            sent: Set(try #require(manifest["requestFields"] as? [String])),
            status: Set(try #require(manifest["statusFieldsRead"] as? [String])), accepted: [])
        #expect(fields.sent.contains("action"))
        try Self.check(operations, fields, against: document, client: "Python")
        // The Python client sends exactly the fields the service takes: nothing it cannot, and nothing it lacks.
        let swiftSent = try Self.propertyNames(of: GreenlightJSON.decode(ApprovalRequestBody.self, from: Data("{}".utf8)))
        #expect(fields.sent == swiftSent, "fields only one client can send: \(fields.sent.symmetricDifference(swiftSent).sorted())")
    }

    static func check(_ operations: [Operation], _ fields: Fields, against document: OpenAPIDocument, client: String) throws {
        for operation in operations {
            let documented = document.operation(operation.method, operation.path)
            #expect(documented != nil, "the \(client) client calls \(operation.method) \(operation.path), which deploy/openapi.yaml does not document")
            guard let documented else { continue }
            let parameters = Set(document.parameters(of: documented, path: operation.path).filter { $0.in == "query" }.map(\.name))
            for name in operation.query {
                #expect(parameters.contains(name), "\(operation.method) \(operation.path) documents no query parameter \(name)")
            }
            if operation.method == "POST" {
                let body = document.properties(document.requestSchema(documented))
                let missing = fields.sent.subtracting(body)
                #expect(missing.isEmpty, "the \(client) client can send \(missing.sorted()) in \(operation.path), which its schema lacks")
                let answer = document.properties(document.responseSchema(documented, statuses: ["202", "200"]))
                let unread = fields.accepted.subtracting(answer)
                #expect(unread.isEmpty, "the \(client) client reads \(unread.sorted()) from \(operation.path)'s answer, which its schema lacks")
            } else {
                let statuses = operation.path.hasSuffix("/outcome") ? ["200", "202"] : ["200"]
                for status in statuses {
                    let answer = document.properties(document.responseSchema(documented, statuses: [status]))
                    let unread = fields.status.subtracting(answer)
                    #expect(
                        !answer.isEmpty && unread.isEmpty,
                        "the \(client) client reads \(unread.sorted()) from \(operation.method) \(operation.path) (\(status)), which its schema lacks")
                }
                if operation.path.hasSuffix("/outcome") {
                    #expect(documented.responses["404"] != nil, "GET \(operation.path) documents no 404 for an unknown id")
                }
            }
        }
    }

    static func checkProblem(_ fields: Set<String>, against document: OpenAPIDocument) throws {
        let problem = document.properties(document.schema(named: "Problem"))
        #expect(fields.subtracting(problem).isEmpty, "the clients read \(fields.subtracting(problem).sorted()) of a problem, which its schema lacks")
    }

    static func propertyNames(of value: Any) -> Set<String> {
        Set(Mirror(reflecting: value).children.compactMap(\.label))
    }

    /// The Python package's manifest, from its own source (clients/python/src).
    static func pythonManifest() async throws -> [String: Any] {
        let log = TestEnvironment.scratchPath(TestEnvironment.uniqueName("python-manifest") + ".json")
        defer { try? FileManager.default.removeItem(atPath: log) }
        let source = root.appendingPathComponent("clients/python/src").path
        let process = try await ChildProcess(
            name: "python", executable: "/usr/bin/python3",
            arguments: ["-B", "-c", "import json, greenlight_client; print(json.dumps(greenlight_client.manifest()))"],
            environment: ["PYTHONPATH": source], logPath: log)
        let status = await process.waitForExit()
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard status == 0, let manifest = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] else {
            throw ChildProcessError(description: "python3 could not read greenlight_client.manifest() (status \(status)):\n\(output)")
        }
        return manifest
    }
}

/// Just enough of an OpenAPI 3.1 document to follow `$ref`s to operations, parameters and the properties of schemas
/// (through `allOf`, `oneOf` and `anyOf`).
struct OpenAPIDocument {
    struct Operation {
        var object: [String: Any]
        var responses: [String: Any] { object["responses"] as? [String: Any] ?? [:] }
    }

    let root: [String: Any]

    static func load(_ url: URL) throws -> OpenAPIDocument {
        let text = try String(contentsOf: url, encoding: .utf8)
        guard let root = try Yams.load(yaml: text) as? [String: Any] else {
            throw ChildProcessError(description: "\(url.path) is not a YAML mapping")
        }
        return OpenAPIDocument(root: root)
    }

    func operation(_ method: String, _ path: String) -> Operation? {
        let item = (root["paths"] as? [String: Any])?[path] as? [String: Any]
        return (item?[method.lowercased()] as? [String: Any]).map(Operation.init)
    }

    func parameters(of operation: Operation, path: String) -> [(name: String, in: String)] {
        let item = (root["paths"] as? [String: Any])?[path] as? [String: Any] ?? [:]
        let all = (item["parameters"] as? [Any] ?? []) + (operation.object["parameters"] as? [Any] ?? [])
        return all.compactMap { resolve($0) }.compactMap { parameter in
            guard let name = parameter["name"] as? String, let place = parameter["in"] as? String else { return nil }
            return (name, place)
        }
    }

    func requestSchema(_ operation: Operation) -> [String: Any]? {
        let body = resolve(operation.object["requestBody"] as Any)
        return jsonSchema(body?["content"])
    }

    /// The JSON schema of the first of `statuses` the operation answers with.
    func responseSchema(_ operation: Operation, statuses: [String]) -> [String: Any]? {
        for status in statuses {
            if let response = resolve(operation.responses[status] as Any), let schema = jsonSchema(response["content"]) {
                return schema
            }
        }
        return nil
    }

    func schema(named name: String) -> [String: Any]? {
        ((root["components"] as? [String: Any])?["schemas"] as? [String: Any])?[name] as? [String: Any]
    }

    /// Every property a schema names, through references and combinations.
    func properties(_ schema: [String: Any]?, depth: Int = 0) -> Set<String> {
        guard depth < 16, let schema = resolve(schema as Any) else { return [] }
        var names = Set((schema["properties"] as? [String: Any] ?? [:]).keys)
        for combination in ["allOf", "oneOf", "anyOf"] {
            for part in schema[combination] as? [Any] ?? [] {
                names.formUnion(properties(resolve(part), depth: depth + 1))
            }
        }
        return names
    }

    private func jsonSchema(_ content: Any?) -> [String: Any]? {
        let media = content as? [String: Any] ?? [:]
        let json = media["application/json"] as? [String: Any] ?? media.first { $0.key.hasSuffix("json") }?.value as? [String: Any]
        return resolve(json?["schema"] as Any)
    }

    /// An object, or the object a `$ref` (`#/a/b/c`) points to.
    func resolve(_ value: Any) -> [String: Any]? {
        guard let object = value as? [String: Any] else { return nil }
        guard let reference = object["$ref"] as? String, reference.hasPrefix("#/") else { return object }
        var current: Any? = root
        for part in reference.dropFirst(2).split(separator: "/") {
            current = (current as? [String: Any])?[String(part).replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")]
        }
        return current.flatMap { resolve($0) }
    }
}
