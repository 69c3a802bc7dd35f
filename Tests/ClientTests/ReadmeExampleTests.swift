import Foundation
import Testing

/// README's agent example is the script the end-to-end tests run, word for word.
struct ReadmeExampleTests {
    @Test func theReadmesAgentExampleIsTheTestedScript() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let script = try String(contentsOf: root.appendingPathComponent("clients/python/examples/gated_tool_call.py"), encoding: .utf8)
        let heading = try #require(readme.range(of: "### An agent's tool call, gated on a human"))
        let fence = try #require(readme.range(of: "```python\n", range: heading.upperBound..<readme.endIndex))
        let end = try #require(readme.range(of: "```\n", range: fence.upperBound..<readme.endIndex))
        #expect(String(readme[fence.upperBound..<end.lowerBound]) == script)
    }
}
