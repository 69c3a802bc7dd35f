import ArgumentParser
import Foundation
import GreenlightClient
import Logging
import MCP

/// `greenlight mcp`: Greenlight's approval tools for an AI agent, served over the Model Context Protocol on standard
/// input and output, so any MCP client can gate its agent's tool calls on a human.
struct ServeMCP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve the approval tools to an AI agent over the Model Context Protocol (stdio).",
        discussion: """
            Tools: request_approval (a tool call for a human to approve), approval_status, wait_for_approval. \
            Started by the MCP client, which talks JSON-RPC on standard input and output; diagnostics go to \
            standard error. The API key needs the submit and read scopes. For example, in an MCP client's settings:
              {"mcpServers": {"greenlight": {"command": "greenlight", "args": ["mcp"],
                "env": {"GREENLIGHT_INTAKE_URL": "https://greenlight.example.com", "GREENLIGHT_API_KEY": "…"}}}}
            """)

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        // Standard output carries the protocol and nothing else.
        var logger = Logger(label: "greenlight.mcp") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let tools = ApprovalTools(client: GreenlightClient(baseURL: connection.intakeURL, apiKey: connection.apiKey, userAgent: "greenlight-mcp"))
        let server = Server(
            name: "greenlight", version: "1.0.0", title: "Greenlight approvals",
            instructions: """
                Before a tool call that needs a human's approval, call request_approval with the call as action, then \
                wait_for_approval until the status is no longer pending. Make the call only if the status is approved \
                and the outcome's actionDigest equals the actionDigest request_approval returned.
                """,
            capabilities: .init(tools: .init(listChanged: false)))
        await server.withMethodHandler(ListTools.self) { _ in .init(tools: ApprovalTools.definitions) }
        await server.withMethodHandler(CallTool.self) { parameters in
            try await tools.call(parameters.name, arguments: parameters.arguments ?? [:])
        }
        try await server.start(transport: StdioTransport(logger: logger))
        // Until the client closes standard input.
        await server.waitUntilCompleted()
        await server.stop()
    }
}
