import Foundation
import GreenlightModels
import GreenlightTestSupport
import Synchronization
import Testing

/// `greenlight mcp` run as an MCP client runs it — a child process spoken to in JSON-RPC over its standard input and
/// output — against the running services: the handshake, the three tools and their schemas, an agent's action
/// requested, approved through the API, and waited for, with the digest of the action's canonical JSON.
@Suite(.timeLimit(.minutes(3)))
struct MCPServerTests {
    @Test func anAgentRequestsApprovalOfAToolCallAndWaitsForTheHumansDecision() async throws {
        try await ServiceStack.with { stack in
            let server = try await JSONRPCPeer(
                executable: "\(try ServiceStack.executableDirectory())/greenlight", arguments: ["mcp"],
                environment: ["GREENLIGHT_INTAKE_URL": stack.intakeURL, "GREENLIGHT_API_KEY": try #require(stack.apiSecret)],
                logPath: "\(stack.logDirectory)/mcp.log")
            defer { server.close() }

            // The handshake.
            let initialized = try await server.call(
                "initialize",
                ["protocolVersion": "2025-06-18", "capabilities": [String: Any](), "clientInfo": ["name": "greenlight-test", "version": "1"]])
            let info = try #require(initialized.result)
            #expect(info["protocolVersion"] as? String == "2025-06-18")
            #expect((info["serverInfo"] as? [String: Any])?["name"] as? String == "greenlight")
            #expect((info["capabilities"] as? [String: Any])?["tools"] != nil)
            try server.notify("notifications/initialized")

            // The tools, each with an input schema that says what it takes.
            let listed = try #require(try await server.call("tools/list", [:]).result)
            let tools = try #require(listed["tools"] as? [[String: Any]])
            let byName = Dictionary(uniqueKeysWithValues: tools.map { ($0["name"] as! String, $0) })
            #expect(Set(byName.keys) == ["request_approval", "approval_status", "wait_for_approval"])
            func schema(_ tool: String) -> [String: Any] { byName[tool]?["inputSchema"] as? [String: Any] ?? [:] }
            func properties(_ tool: String) -> [String: Any] { schema(tool)["properties"] as? [String: Any] ?? [:] }
            #expect(schema("request_approval")["type"] as? String == "object")
            #expect(Set(schema("request_approval")["required"] as? [String] ?? []) == ["title", "action"])
            #expect(Set(properties("request_approval").keys).isSuperset(of: ["title", "description", "details", "approvers", "timeoutSeconds", "action", "requestId"]))
            #expect((properties("request_approval")["action"] as? [String: Any])?["required"] as? [String] == ["tool", "arguments"])
            #expect(schema("approval_status")["required"] as? [String] == ["requestId"])
            #expect((properties("wait_for_approval")["timeoutSeconds"] as? [String: Any])?["maximum"] as? Int == 300)

            // The agent asks to transfer funds; the tool answers at once with the id and the action's digest.
            let arguments: [String: Any] = [
                "from": "ops", "to": "vendor-17", "amount": 1250.5, "currency": "EUR", "memo": "Invoice €42 \"final\"",
                "lines": [1, 2.5, 1e21], "dryRun": false,
            ]
            let canonical =
                #"{"arguments":{"amount":1250.5,"currency":"EUR","dryRun":false,"from":"ops","lines":[1,2.5,1e+21],"memo":"Invoice €42 \"final\"","to":"vendor-17"},"tool":"transfer_funds"}"#
            let action = AgentAction(
                tool: "transfer_funds",
                arguments: try GreenlightJSON.decode(JSONValue.self, from: JSONSerialization.data(withJSONObject: arguments)))
            #expect(JSONCanonical.text(action.json) == canonical)
            let digest = JSONCanonical.sha256(action.json)
            let requested = try await server.callTool(
                "request_approval",
                [
                    "title": "Pay vendor-17 EUR 1,250.50", "description": "Invoice 42 is due.", "approvers": ["cfo@example.com"],
                    "details": ["invoice": "42"], "action": ["tool": "transfer_funds", "arguments": arguments],
                ])
            #expect(requested.isError == false, "\(requested.text)")
            let requestId = try #require(requested.structured["requestId"] as? String)
            #expect(requestId.hasPrefix("mcp-"))
            #expect(requested.structured["actionDigest"] as? String == digest)
            #expect(requested.structured["status"] as? String == "pending")

            // Nobody has decided yet: a short wait answers pending, and says so without an error.
            try await waitUntil(timeout: .seconds(30)) { try await stack.status(requestId) != nil }
            let early = try await server.callTool("wait_for_approval", ["requestId": requestId, "timeoutSeconds": 1])
            #expect(early.isError == false, "\(early.text)")
            #expect(early.structured["status"] as? String == "pending")
            #expect((early.structured["action"] as? [String: Any])?["tool"] as? String == "transfer_funds")

            // The approver approves through the API while the agent waits.
            let waiting = Task { try await server.callTool("wait_for_approval", ["requestId": requestId, "timeoutSeconds": 60]) }
            let decided = try await stack.submit(
                #"{"decision": "approve", "decidedBy": "cfo@example.com", "comment": "paid on time"}"#,
                path: "/v1/requests/\(requestId)/decision")
            #expect(decided.status == 202, "\(decided.body)")
            let outcome = try await waiting.value
            #expect(outcome.isError == false, "\(outcome.text)")
            #expect(outcome.structured["status"] as? String == "approved")
            #expect(outcome.structured["decidedBy"] as? String == "cfo@example.com")
            #expect(outcome.structured["actionDigest"] as? String == digest)
            // The text is the same JSON, for clients that read only text.
            let text = (try? JSONSerialization.jsonObject(with: Data(outcome.text.utf8))) as? [String: Any]
            #expect(text?["actionDigest"] as? String == digest, "\(outcome.text)")

            let status = try await server.callTool("approval_status", ["requestId": requestId])
            #expect(status.structured["status"] as? String == "approved")

            // Refusals are tool errors carrying what to fix: intake's problem, or the argument at fault.
            let missing = try await server.callTool("approval_status", ["requestId": "\(requestId)-missing"])
            #expect(missing.isError == true)
            #expect(missing.structured["error"] as? String == "notFound")
            #expect((missing.structured["problem"] as? [String: Any])?["status"] as? Int == 404)
            let invalid = try await server.callTool("request_approval", ["title": "No action", "requestId": "has spaces"])
            #expect(invalid.isError == true)
            #expect(invalid.text.contains("action"))
            let refused = try await server.callTool(
                "request_approval", ["title": "Bad id", "requestId": "has spaces", "action": ["tool": "t", "arguments": [String: Any]()]])
            #expect(refused.isError == true)
            #expect(refused.structured["error"] as? String == "invalidRequest")
            #expect(refused.text.contains("requestId"), "\(refused.text)")
            let tooLong = try await server.callTool("wait_for_approval", ["requestId": requestId, "timeoutSeconds": 301])
            #expect(tooLong.isError == true)
            #expect(tooLong.text.contains("timeoutSeconds"))
            let unknown = try await server.call("tools/call", ["name": "approve_it_myself", "arguments": [String: Any]()])
            #expect(unknown.error?["code"] as? Int == -32602)

            // The client closes standard input: the server ends, cleanly.
            server.closeInput()
            try await waitUntil(timeout: .seconds(15)) { server.process.hasExited }
            #expect(await server.process.waitForExit() == 0, "\(server.process.logTail())")
        }
    }
}

/// A child process spoken to in newline-delimited JSON-RPC 2.0 over its standard input and output (MCP's stdio
/// transport). Its output is read on a thread of its own, so a blocking read never holds a concurrency thread.
final class JSONRPCPeer: Sendable {
    struct Answer {
        var result: [String: Any]?
        var error: [String: Any]?
    }

    /// Unchecked: JSONSerialization's values, read only after the answer is parsed, never mutated.
    struct ToolResult: @unchecked Sendable {
        var isError: Bool?
        var text: String
        var structured: [String: Any]
    }

    /// The lines read from the child's output, shared with the reading thread.
    final class Inbox: Sendable {
        let lines = Mutex<[Data]>([])
    }

    let process: ChildProcess
    private let input: FileHandle
    private let inbox = Inbox()
    private let nextId = Mutex(1)

    init(executable: String, arguments: [String], environment: [String: String], logPath: String) async throws {
        let toChild = Pipe()
        let fromChild = Pipe()
        process = try await ChildProcess(
            name: "mcp", executable: executable, arguments: arguments, environment: environment, logPath: logPath,
            standardInput: toChild.fileHandleForReading.fileDescriptor,
            standardOutput: fromChild.fileHandleForWriting.fileDescriptor)
        // The child has its own copies; ours would keep its input open and our reader from seeing its end.
        try toChild.fileHandleForReading.close()
        try fromChild.fileHandleForWriting.close()
        input = toChild.fileHandleForWriting
        let output = fromChild.fileHandleForReading
        let inbox = self.inbox
        Thread.detachNewThread {
            var pending = Data()
            while true {
                let chunk = output.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = pending[pending.startIndex..<newline]
                    pending = Data(pending[pending.index(after: newline)...])
                    if !line.isEmpty { inbox.lines.withLock { $0.append(Data(line)) } }
                }
            }
        }
    }

    func send(_ message: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: message)
        data.append(UInt8(ascii: "\n"))
        try input.write(contentsOf: data)
    }

    func notify(_ method: String) throws {
        try send(["jsonrpc": "2.0", "method": method])
    }

    /// Sends a request and waits for the answer with its id.
    func call(_ method: String, _ parameters: [String: Any], timeout: Duration = .seconds(90)) async throws -> Answer {
        let id = nextId.withLock { id in
            defer { id += 1 }
            return id
        }
        try send(["jsonrpc": "2.0", "id": id, "method": method, "params": parameters])
        var answer: [String: Any]?
        try await waitUntil(timeout: timeout) {
            answer = inbox.lines.withLock { lines in
                lines.lazy.compactMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }.first { $0["id"] as? Int == id }
            }
            if answer == nil, process.hasExited {
                throw ChildProcessError(description: "greenlight mcp exited: \(process.logTail())")
            }
            return answer != nil
        }
        return Answer(result: answer?["result"] as? [String: Any], error: answer?["error"] as? [String: Any])
    }

    /// Calls a tool; the result's text content and structured content.
    func callTool(_ name: String, _ arguments: [String: Any]) async throws -> ToolResult {
        let answer = try await call("tools/call", ["name": name, "arguments": arguments])
        guard let result = answer.result else {
            throw ChildProcessError(description: "tools/call \(name) answered an error: \(answer.error ?? [:])")
        }
        let content = result["content"] as? [[String: Any]] ?? []
        return ToolResult(
            isError: result["isError"] as? Bool,
            text: content.compactMap { $0["type"] as? String == "text" ? $0["text"] as? String : nil }.joined(),
            structured: result["structuredContent"] as? [String: Any] ?? [:])
    }

    func closeInput() {
        try? input.close()
    }

    func close() {
        closeInput()
        process.signal(SIGKILL)
    }
}
