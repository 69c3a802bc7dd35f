import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// W3C trace context across the four services, and the spans swift-otel exports over OTLP/HTTP to a collector (a
/// receiver in this process): the trace a client starts on the POST is the trace of the request's notification, of
/// the click on the emailed link and of the outcome, in Kafka headers, in log lines and at the collector.
@Suite(.timeLimit(.minutes(3)))
struct TraceExportTests {
    @Test func oneTraceFromSubmissionToOutcome() async throws {
        let collector = try await OTLPReceiver.start()
        let webhook = try await WebhookReceiver.start()
        let environment = collector.environment.merging(["GREENLIGHT_WEBHOOK_URL": webhook.url]) { _, new in new }
        try await ServiceStack.with(environment: environment) { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            let traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
            let accepted = try await stack.submit(
                #"{"requestId": "\#(requestId)", "amount": 10, "description": "Traced", "approvers": ["t@example.com"]}"#,
                headers: [("traceparent", "00-\(traceId)-00f067aa0ba902b7-01")])
            #expect(accepted.status == 202)
            // Intake answers with its own span of the caller's trace.
            let answered = try #require(accepted.header("traceparent").flatMap(TraceContext.init(traceparent:)))
            #expect(answered.traceId == traceId)
            #expect(answered.spanId != "00f067aa0ba902b7")

            let mail = try await stack.waitForMail(forRequest: requestId)
            let approve = try #require(mail.links.first { $0.contains("/approve/") })
            // The click carries no trace of its own; the receiver joins the request's.
            let decided = try await HTTP.clickThrough(approve)
            #expect(decided.status == 200)
            #expect(try await stack.outcomes.waitFor(requestId).status == .approved)
            let outcomeTrace = try #require(
                stack.outcomes.traceparent(forRequest: requestId).flatMap(TraceContext.init(traceparent:)))
            #expect(outcomeTrace.traceId == traceId)

            // Each hop exported its span, linked to the one before it: the path from the client's POST to the
            // notification, and from the click to the decision's handling.
            var spans: [ExportedSpan] = []
            let expected = [
                ("intake", "/v1/requests"), ("intake", "publish approvals.requests"),
                ("orchestrator", "process approvals.requests"), ("notifier", "process approvals.notifications"),
                ("notifier", "deliver notification"), ("notifier", "publish approvals.internal"),
                ("callbacks", "decide by link"), ("callbacks", "publish approvals.decisions"),
                ("orchestrator", "process approvals.decisions"),
            ]
            func all(_ service: String, _ name: String) -> [ExportedSpan] {
                spans.filter { $0.service == "greenlight-\(service)" && $0.name == name }
            }
            let allExported = try await eventually(timeout: .seconds(20)) {
                spans = collector.spans.filter { $0.traceId == traceId }
                return expected.allSatisfy { !all($0.0, $0.1).isEmpty }
            }
            #expect(allExported, "spans of the trace: \(spans)")
            /// Some span `child` has some span `parent` as its parent (a name may have several spans).
            func parent(_ child: (String, String), is parent: (String, String)) {
                let parentIds = Set(all(parent.0, parent.1).map(\.spanId))
                #expect(
                    all(child.0, child.1).contains { $0.parentSpanId.map(parentIds.contains) == true },
                    "\(child) should be a child of \(parent): \(spans)")
            }
            let server = try #require(all("intake", "/v1/requests").first)
            #expect(server.parentSpanId == "00f067aa0ba902b7")
            #expect(server.kind == 2)
            #expect(server.attributes["http.response.status_code"] == "202")
            #expect(server.spanId == answered.spanId)
            parent(("intake", "publish approvals.requests"), is: ("intake", "/v1/requests"))
            parent(("orchestrator", "process approvals.requests"), is: ("intake", "publish approvals.requests"))
            parent(("callbacks", "decide by link"), is: ("orchestrator", "process approvals.requests"))
            parent(("callbacks", "publish approvals.decisions"), is: ("callbacks", "decide by link"))
            parent(("orchestrator", "process approvals.decisions"), is: ("callbacks", "publish approvals.decisions"))
            // The notification was emitted under the execution's trace (the span that started it).
            parent(("notifier", "process approvals.notifications"), is: ("orchestrator", "process approvals.requests"))
            // Stored when received, delivered from the queue in a span of its own, reported from there.
            parent(("notifier", "deliver notification"), is: ("notifier", "process approvals.notifications"))
            parent(("notifier", "publish approvals.internal"), is: ("notifier", "deliver notification"))

            // A log line written inside an exported span carries that span's ids.
            let orchestratorSpans = Set(all("orchestrator", "process approvals.requests").map(\.spanId))
            let logged = stack.processes["orchestrator"]!.logTail(4000).split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            }.filter { $0["requestId"] as? String == requestId && $0["traceId"] as? String == traceId }
            #expect(
                logged.contains { ($0["spanId"] as? String).map(orchestratorSpans.contains) == true },
                "no orchestrator line for \(requestId) carries the span ids of \(orchestratorSpans)")
            // Every service logged its part of the request under the trace id.
            for service in ["intake", "orchestrator", "notifier", "callbacks"] {
                let logged = try await eventually(timeout: .seconds(5)) {
                    stack.processes[service]!.logTail(4000).split(separator: "\n").contains { line in
                        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                        else { return false }
                        return object["traceId"] as? String == traceId && object["requestId"] as? String == requestId
                    }
                }
                #expect(logged, "\(service) logged nothing for \(requestId) under trace \(traceId)")
            }

            // A webhook POST is a client span of the trace that names the host, never the webhook's URL (a secret).
            let hooked = TestEnvironment.uniqueName("REQ")
            let hookTrace = "0af7651916cd43dd8448eb211c80319c"
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(hooked)", "amount": 1, "description": "Hook", "approvers": ["h@example.com"], "notify": "webhook"}"#,
                    headers: [("traceparent", "00-\(hookTrace)-b7ad6b7169203331-01")]
                ).status == 202)
            var posts: [ExportedSpan] = []
            let posted = try await eventually(timeout: .seconds(20)) {
                posts = collector.spans.filter { $0.traceId == hookTrace && $0.name == "POST webhook" }
                return !posts.isEmpty
            }
            #expect(posted, "no webhook span: \(collector.spans.filter { $0.traceId == hookTrace })")
            #expect(posts.first?.kind == 3)
            #expect(posts.first?.attributes["server.address"] == "127.0.0.1")
            #expect(
                webhook.traceparents.first?.first.flatMap(TraceContext.init(traceparent:))?.spanId
                    == posts.first?.spanId)

            // Nothing exported carries what must not leave: the link's token (its path is sent as /approve/***), the
            // webhook's URL, the browser's user agent or address. Nor is there a span for health probes and scrapes
            // (the stack probed /readyz before the first request; the exporter sends spans in the order they end, so
            // had those had spans, they would have arrived before the ones above).
            let exported = collector.spans
            let token = String(approve.split(separator: "/").last!)
            let texts = exported.flatMap { [$0.name] + $0.attributes.map { "\($0.key)=\($0.value)" } }
            #expect(!texts.contains { $0.contains(token) || $0.contains(webhook.url) || $0.contains("/hook") })
            #expect(!texts.contains { $0.hasPrefix("user_agent.original=") || $0.hasPrefix("net.sock.peer.addr=") })
            #expect(exported.contains { $0.attributes["url.path"] == "/approve/***" })
            #expect(
                !exported.contains { ["/healthz", "/readyz", "/metrics"].contains($0.attributes["url.path"] ?? "") })
            // Nor do the logs carry the token.
            for service in ["intake", "orchestrator", "notifier", "callbacks"] {
                #expect(!stack.processes[service]!.logTail(4000).contains(token), "\(service) logged the link token")
            }
        }
        await collector.stop()
        await webhook.stop()
    }

    /// The exporter runs in the service group and stops last: spans that ended just before SIGTERM, still waiting for
    /// their batch, are sent on the way out.
    @Test func spansWaitingForTheirBatchAreSentAtShutdown() async throws {
        let collector = try await OTLPReceiver.start()
        try await ServiceStack.with(
            environment: collector.environment, services: ["intake": ["OTEL_BSP_SCHEDULE_DELAY": "600000"]]
        ) { stack in
            let traceId = "5bf92f3577b34da6a3ce929d0e0e4736"
            let accepted = try await stack.submit(
                #"{"requestId": "\#(TestEnvironment.uniqueName("REQ"))", "amount": 1, "description": "Flushed", "approvers": ["f@example.com"]}"#,
                headers: [("traceparent", "00-\(traceId)-00f067aa0ba902b7-01")])
            #expect(accepted.status == 202)
            // The orchestrator (batches every 200 ms) has exported its part, so intake's would be here by now had its
            // batch been due.
            let orchestrated = try await eventually(timeout: .seconds(20)) {
                collector.spans.contains { $0.traceId == traceId && $0.service == "greenlight-orchestrator" }
            }
            #expect(orchestrated)
            #expect(!collector.spans.contains { $0.service == "greenlight-intake" })

            #expect(await stack.processes["intake"]!.stop() == 0)
            let intakeSpans = Set(
                collector.spans.filter { $0.traceId == traceId && $0.service == "greenlight-intake" }.map(\.name))
            #expect(intakeSpans == ["/v1/requests", "publish approvals.requests"], "\(collector.spans)")
        }
        await collector.stop()
    }
}
