import Foundation
import GreenlightModels
import Testing

struct ValidationTests {
    func validate(_ json: String) throws -> Result<ValidatedApprovalRequest, Problem> {
        try GreenlightJSON.decode(ApprovalRequestBody.self, from: Data(json.utf8))
            .validate(defaultApprover: "boss@example.com")
    }

    func fields(_ result: Result<ValidatedApprovalRequest, Problem>) -> [String] {
        guard case .failure(let problem) = result else { return [] }
        return problem.errors?.map(\.field) ?? []
    }

    @Test func validRequestGetsDefaults() throws {
        let result = try validate(#"{"requestId": "REQ-001", "amount": 5000, "description": "  New server purchase "}"#)
        let request = try result.get()
        #expect(request.requestId == "REQ-001")
        #expect(request.description == "New server purchase")
        #expect(request.currency == "USD")
        #expect(request.approvers == ["boss@example.com"])
        #expect(request.timeoutSeconds == 86_400)
        #expect(request.heartbeatTimeoutSeconds == nil)
        #expect(request.onTimeout == .reject)
    }

    @Test func heartbeatAndTimeoutPolicyAreCarriedToTheEvent() throws {
        let request = try validate(
            #"{"requestId": "R", "amount": 1, "description": "d", "timeoutSeconds": 600, "heartbeatTimeoutSeconds": 60, "onTimeout": "approve"}"#
        ).get()
        let event = request.event(submittedAt: Date())
        #expect(event.heartbeatTimeoutSeconds == 60)
        #expect(event.onTimeout == .approve)
    }

    @Test func duplicateApproversAreMergedCaseInsensitively() throws {
        let request = try validate(
            #"{"requestId": "R", "amount": 1, "description": "d", "approvers": ["a@example.com", "A@example.com", "b@example.com"]}"#
        ).get()
        #expect(request.approvers == ["a@example.com", "b@example.com"])
    }

    @Test(arguments: [
        (#"{"amount": 1, "description": "d"}"#, "requestId"),
        (#"{"requestId": "has space", "amount": 1, "description": "d"}"#, "requestId"),
        (#"{"requestId": "R", "description": "d", "title": "a\nb"}"#, "title"),
        (#"{"requestId": "R", "description": "d", "details": [1]}"#, "details"),
        (#"{"requestId": "R", "description": "d", "details": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}}}"#, "details"),
        (#"{"requestId": "R", "description": "d", "metadata": "x"}"#, "metadata"),
        (#"{"requestId": "R", "description": "d", "links": [{"url": "javascript:alert(1)"}]}"#, "links[0].url"),
        (#"{"requestId": "R", "description": "d", "action": {"tool": "", "arguments": {}}}"#, "action.tool"),
        (#"{"requestId": "R", "description": "d", "action": {"tool": "t", "arguments": 1}}"#, "action.arguments"),
        (#"{"requestId": "R", "description": "d", "callbackUrl": "ftp://x.example"}"#, "callbackUrl"),
        (#"{"requestId": "R", "description": "d", "callbackUrl": "https://x.example", "callbackSecret": "s"}"#, "callbackSecret"),
        (#"{"requestId": "R", "description": "d", "callbackLifecycle": true}"#, "callbackUrl"),
        (#"{"requestId": "R", "amount": -0.01, "description": "d"}"#, "amount"),
        (#"{"requestId": "R", "amount": 1e16, "description": "d"}"#, "amount"),
        (#"{"requestId": "R", "amount": 1}"#, "description"),
        (#"{"requestId": "R", "amount": 1, "description": "   "}"#, "description"),
        (#"{"requestId": "R", "amount": 1, "description": "d", "currency": "dollars"}"#, "currency"),
        (#"{"requestId": "R", "amount": 1, "description": "d", "approvers": []}"#, "approvers"),
        (#"{"requestId": "R", "amount": 1, "description": "d", "approvers": ["a@b"]}"#, "approvers[0]"),
        (#"{"requestId": "R", "amount": 1, "description": "d", "approvers": ["x <a@example.com>"]}"#, "approvers[0]"),
        (#"{"requestId": "R", "amount": 1, "description": "d", "timeoutSeconds": 0}"#, "timeoutSeconds"),
        (#"{"requestId": "R", "amount": 1, "description": "d", "timeoutSeconds": 2592001}"#, "timeoutSeconds"),
        (#"{"requestId": "R", "amount": 1, "description": "d", "timeoutSeconds": 60, "heartbeatTimeoutSeconds": 61}"#, "heartbeatTimeoutSeconds"),
        (#"{"requestId": "R", "amount": 1, "description": "d", "heartbeatTimeoutSeconds": 0}"#, "heartbeatTimeoutSeconds"),
    ])
    func invalidFieldIsNamed(json: String, field: String) throws {
        #expect(fields(try validate(json)) == [field])
    }

    @Test func wronglyTypedFieldIsNamedByTheDecoder() {
        do {
            _ = try GreenlightJSON.decode(
                ApprovalRequestBody.self, from: Data(#"{"requestId": "R", "amount": "5000"}"#.utf8))
            Issue.record("a string amount decoded")
        } catch let error as DecodingError {
            let description = DecodingErrorDescription(error)
            #expect(description.field == "amount")
            #expect(description.problem == "must be a number")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

struct EventCodingTests {
    @Test func eventsRoundTripWithTypeAndVersion() throws {
        let event = ApprovalRequested(
            requestId: "REQ-1", amount: 10.5, currency: "EUR", description: "Chairs", requester: "r@example.com",
            approvers: ["a@example.com"], timeoutSeconds: 60, submittedAt: Date(timeIntervalSince1970: 1_800_000_000.25))
        let data = try GreenlightJSON.encode(event)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["type"] as? String == "ApprovalRequested")
        #expect(json["version"] as? Int == 1)
        #expect(json["submittedAt"] as? String == "2027-01-15T08:00:00.250Z")
        #expect(try InboundEvent.decode(Array(data), topic: "t") == .approvalRequested(event))
    }

    /// `GreenlightJSON.encode` and `decode` share one encoder and one decoder between every caller: used from many
    /// tasks at once, they write and read what a coder of one's own does.
    @Test func theSharedCodersAgreeWithOwnOnesUnderConcurrentUse() async throws {
        let events = (0..<64).map { n in
            ApprovalRequested(
                requestId: "REQ-\(n)", amount: Double(n) + 0.25, currency: "EUR", description: "Item \(n) \u{e9}\u{1F600} \"q\" /",
                requester: "r\(n)@example.com", approvers: ["a\(n)@example.com"], timeoutSeconds: 60 + n,
                submittedAt: Date(timeIntervalSince1970: 1_800_000_000 + Double(n) * 0.001))
        }
        let expected = try events.map { try GreenlightJSON.encoder().encode($0) }
        let agreed = try await withThrowingTaskGroup(of: Bool.self) { group in
            for round in 0..<8 {
                for (index, event) in events.enumerated() {
                    group.addTask {
                        let data = try GreenlightJSON.encode(event)
                        let decoded = try GreenlightJSON.decode(ApprovalRequested.self, from: expected[(index + round) % events.count])
                        return data == expected[index] && decoded == events[(index + round) % events.count]
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(agreed.count == 8 * events.count)
        #expect(agreed.allSatisfy { $0 })
    }

    @Test func timestampsSurviveRepeatedRoundTrips() throws {
        var date = Date(timeIntervalSince1970: 1_800_000_000.1237)
        let first = Timestamp.format(date)
        #expect(first == "2027-01-15T08:00:00.124Z")
        for _ in 0..<50 {
            date = try #require(Timestamp.parse(Timestamp.format(date)))
            #expect(Timestamp.format(date) == first)
        }
    }

    @Test func fastTimestampCodingAgreesWithFoundationsISO8601() throws {
        let iso = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let milliseconds = Double(Int64.random(in: 0...4_000_000_000_000, using: &generator))
            // Foundation truncates to the millisecond; nudged into the middle of it, it writes that millisecond.
            let text = Date(timeIntervalSince1970: (milliseconds + 0.4) / 1000).formatted(iso)
            #expect(Timestamp.format(Date(timeIntervalSince1970: milliseconds / 1000)) == text)
            let parsed = try #require(Timestamp.parse(text))
            #expect(abs(parsed.timeIntervalSince(try Date(text, strategy: iso))) < 0.000_001)
            #expect(Timestamp.format(parsed) == text)
        }
        // Offsets, more or fewer fraction digits, none at all.
        let expected = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(Timestamp.parse("2027-01-15T09:30:00+01:30") == expected)
        #expect(Timestamp.parse("2027-01-15T06:00:00-02:00") == expected)
        #expect(Timestamp.parse("2027-01-15T08:00:00Z") == expected)
        #expect(Timestamp.parse("2027-01-15T08:00:00.5Z") == expected.addingTimeInterval(0.5))
        #expect(Timestamp.parse("2027-01-15T08:00:00.123456789Z").map(Timestamp.format) == "2027-01-15T08:00:00.123Z")
        #expect(Timestamp.parse("2024-02-29T23:59:60Z") != nil, "a leap day and a leap second are real")
        // A field out of range is refused, not rolled over into the next hour or month (as Foundation's parser would),
        // whatever the shape around it.
        for bad in [
            "2027-01-15", "2027-13-15T08:00:00Z", "2027-01-15T08:00:00.Z", "x027-01-15T08:00:00Z", "2024-01-01T12:99:00Z",
            "2024-01-01T24:00:00+01:00", "2024-01-01T12:00:61Z", "2023-02-29T12:00:00Z", "2024-04-31T12:00:00.5+02:00",
            "2024-01-01T12:99Z", "2024-02-30T10:00:00.123456789012Z",
        ] {
            #expect(Timestamp.parse(bad) == nil, "\(bad)")
        }
        #expect(HumanFormat.utc(expected) == "2027-01-15 08:00 UTC")
    }

    /// Base64url without padding, as Foundation's base64 with the two characters swapped and the padding dropped, for
    /// every length of input modulo three and every value of a byte.
    @Test func base64URLIsUnpaddedRFC4648() {
        #expect(LinkToken.base64URL([]) == "")
        #expect(LinkToken.base64URL(Array("f".utf8)) == "Zg")
        #expect(LinkToken.base64URL(Array("fo".utf8)) == "Zm8")
        #expect(LinkToken.base64URL(Array("foo".utf8)) == "Zm9v")
        #expect(LinkToken.base64URL([0xfb, 0xff, 0xbf]) == "-_-_")
        var generator = SystemRandomNumberGenerator()
        for length in 0..<48 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) } + Array(0...255)
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            #expect(LinkToken.base64URL(bytes) == expected, "\(bytes)")
        }
    }

    @Test func hexIsTwoDigitsPerByte() {
        #expect(Hex.encode([0x00, 0x0a, 0xff, 0x10]) == "000aff10")
        #expect(Hex.encode([0xab, 0x3c], uppercase: true) == "AB3C")
        #expect(LinkToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test(arguments: [
        "not json",
        #"{"no": "type"}"#,
        #"{"type": "Unheard"}"#,
        #"{"type": "DecisionSubmitted", "version": 2}"#,
        #"{"type": "DecisionSubmitted", "eventId": "x"}"#,
    ])
    func malformedEventsAreTypedErrors(text: String) {
        #expect(throws: EventDecodingError.self) { try InboundEvent.decode(Array(text.utf8), topic: "approvals.decisions") }
    }

    /// Public topics carry public events: a decision on the internal topic, or a cancellation on the requests topic,
    /// is refused; elsewhere (a test's own topic) the type alone decides. (For one release, internal commands are
    /// still read on the decisions topic, where earlier releases published them.)
    @Test func anEventOnAnotherTypesTopicIsRefused() throws {
        let cancel = Array(try GreenlightJSON.encode(CancelRequested(requestId: "R", reason: nil, requestedAt: Date())))
        #expect(throws: EventDecodingError.self) { try InboundEvent.decode(cancel, topic: Topic.requests.rawValue) }
        #expect(try InboundEvent.decode(cancel, topic: Topic.decisions.rawValue).topic == .internalCommands)
        #expect(try InboundEvent.decode(cancel, topic: Topic.internalCommands.rawValue).topic == .internalCommands)
        let decision = Array(
            try GreenlightJSON.encode(
                DecisionSubmitted(
                    requestId: "R", decision: .approve, decidedBy: "x", channel: .kafka, comment: nil, decidedAt: Date(),
                    tokenHash: nil)))
        do {
            _ = try InboundEvent.decode(decision, topic: Topic.internalCommands.rawValue)
            Issue.record("a decision on the internal topic was read")
        } catch let error as EventDecodingError {
            #expect("\(error)".contains("belongs on approvals.decisions"), "\(error)")
        }
        #expect(try InboundEvent.decode(decision, topic: "elsewhere").topic == .decisions)
    }
}

struct HumanFormatTests {
    @Test func amounts() {
        #expect(HumanFormat.amount(5000, currency: "USD") == "USD 5,000.00")
        #expect(HumanFormat.amount(1_234_567.891, currency: "EUR") == "EUR 1,234,567.89")
        #expect(HumanFormat.amount(0.5, currency: "USD") == "USD 0.50")
        #expect(HumanFormat.amount(999, currency: "USD") == "USD 999.00")
        #expect(HumanFormat.amount(0.125, currency: "USD") == "USD 0.13")
        // Each currency's style is made once and kept: the same answers the second time, each with its own decimals.
        for _ in 0..<2 {
            #expect(HumanFormat.amount(1.5, currency: "JPY") == "JPY 2")
            #expect(HumanFormat.amount(1.5, currency: "USD") == "USD 1.50")
        }
    }

    /// Each currency's own minor units (ISO 4217): none for the yen, three for the Bahraini dinar.
    @Test func amountsHaveTheirCurrencysDecimals() {
        #expect(HumanFormat.amount(1_200_000, currency: "JPY") == "JPY 1,200,000")
        #expect(HumanFormat.amount(1234.5, currency: "JPY") == "JPY 1,235")
        #expect(HumanFormat.amount(1234.5, currency: "BHD") == "BHD 1,234.500")
        #expect(HumanFormat.amount(0.0625, currency: "BHD") == "BHD 0.063")
        #expect(HumanFormat.amount(5000, currency: "CHF") == "CHF 5,000.00")
    }

    @Test func negativeAmounts() {
        #expect(HumanFormat.amount(-5000, currency: "USD") == "-USD 5,000.00")
        #expect(HumanFormat.amount(-42.5, currency: "JPY") == "-JPY 43")
        #expect(HumanFormat.amount(-0.5, currency: "BHD") == "-BHD 0.500")
    }

    @Test func durations() {
        let start = Date(timeIntervalSince1970: 0)
        #expect(HumanFormat.duration(from: start, to: start.addingTimeInterval(86_399.6)) == "24 hours")
        #expect(HumanFormat.duration(from: start, to: start.addingTimeInterval(3 * 86_400)) == "3 days")
        #expect(HumanFormat.duration(from: start, to: start.addingTimeInterval(90 * 60)) == "90 minutes")
        #expect(HumanFormat.duration(from: start, to: start) == "less than a minute")
        #expect(HumanFormat.utc(Date(timeIntervalSince1970: 1_800_000_000)) == "2027-01-15 08:00 UTC")
    }
}

struct TraceContextTests {
    @Test func parsesAndFormatsTraceparent() throws {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let context = try #require(TraceContext(traceparent: header))
        #expect(context.traceId == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(context.spanId == "00f067aa0ba902b7")
        #expect(context.sampled)
        #expect(context.traceparent == header)
        #expect(TraceContext(traceparent: header.uppercased())?.traceparent == header)
        #expect(TraceContext(traceparent: "  \(header)\t")?.traceparent == header)
        // Only the flags' lowest bit says sampled; a later version of exactly four fields reads as 00 does.
        #expect(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03")?.sampled == true)
        #expect(TraceContext(traceparent: "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02")?.sampled == false)
        #expect(TraceContext(traceparent: "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02")?.spanId == "00f067aa0ba902b7")
    }

    @Test(arguments: [
        "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", "0-04bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ])
    func refusesMalformedTraceparent(_ header: String) {
        #expect(TraceContext(traceparent: header) == nil)
    }

    @Test func childKeepsTheTraceAndContinuingStartsOneWhenMissing() throws {
        let parent = try #require(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"))
        let child = parent.child()
        #expect(child.traceId == parent.traceId)
        #expect(child.spanId != parent.spanId)
        #expect(!child.sampled)
        #expect(TraceContext.continuing(parent.traceparent).traceId == parent.traceId)
        let fresh = TraceContext.continuing(nil)
        #expect(TraceContext(traceparent: fresh.traceparent) == fresh)
        #expect(TraceContext.continuing("garbage").traceId != parent.traceId)
        // A future version may carry more fields; the first four still count.
        #expect(TraceContext(traceparent: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more")?.sampled == true)
    }
}

struct PolicyValidationTests {
    func validate(_ json: String) throws -> Result<ValidatedApprovalRequest, Problem> {
        try GreenlightJSON.decode(ApprovalRequestBody.self, from: Data(json.utf8)).validate(defaultApprover: "x@example.com")
    }

    @Test func policiesParseAndTravelOnTheEvent() throws {
        let base = #""requestId": "R", "amount": 1, "description": "d", "approvers": ["a@example.com", "b@example.com"]"#
        for (text, policy) in [(#""any""#, ApprovalPolicy.any), (#""all""#, .all), (#"{"quorum": 2}"#, .quorum(2))] {
            let validated = try validate("{\(base), \"policy\": \(text)}").get()
            #expect(validated.policy == policy)
            let event = validated.event(submittedAt: Date())
            let decoded = try GreenlightJSON.decode(ApprovalRequested.self, from: GreenlightJSON.encode(event))
            #expect((decoded.policy ?? .any) == policy)
        }
        #expect(try validate("{\(base)}").get().policy == .any)
        #expect(ApprovalPolicy(storedAs: ApprovalPolicy.quorum(3).description) == .quorum(3))
    }

    @Test func aQuorumLargerThanTheApproversOrAnUnknownPolicyIsRefused() throws {
        let base = #""requestId": "R", "amount": 1, "description": "d", "approvers": ["a@example.com"]"#
        guard case .failure(let problem) = try validate("{\(base), \"policy\": {\"quorum\": 2}}") else {
            Issue.record("a quorum of 2 out of 1 was accepted")
            return
        }
        #expect(problem.errors?.map(\.field) == ["policy"])
        #expect(throws: DecodingError.self) { try validate("{\(base), \"policy\": \"most\"}") }
    }
}

struct ReminderValidationTests {
    func validate(_ json: String) throws -> Result<ValidatedApprovalRequest, Problem> {
        try GreenlightJSON.decode(ApprovalRequestBody.self, from: Data(json.utf8)).validate(defaultApprover: "x@example.com")
    }

    func fields(_ json: String) throws -> [String] {
        guard case .failure(let problem) = try validate(json) else { return [] }
        return problem.errors?.map(\.field) ?? []
    }

    @Test func remindersAndEscalationAreCheckedAgainstTheDeadline() throws {
        let base = #""requestId": "R", "amount": 1, "description": "d", "approvers": ["a@example.com"], "timeoutSeconds": 3600"#
        let ok = try validate(
            "{\(base), \"remindAfterSeconds\": 600, \"escalateAfterSeconds\": 1800, \"escalateTo\": [\"boss@example.com\", \"A@example.com\"]}"
        ).get()
        #expect(ok.remindAfterSeconds == 600)
        // An approver already on the list is not escalated to again.
        #expect(ok.escalateTo == ["boss@example.com"])
        #expect(ok.event(submittedAt: Date()).escalateTo == ["boss@example.com"])
        #expect(try fields("{\(base), \"remindAfterSeconds\": 3600}") == ["remindAfterSeconds"])
        #expect(try fields("{\(base), \"escalateAfterSeconds\": 60}") == ["escalateTo"])
        #expect(try fields("{\(base), \"escalateTo\": [\"boss@example.com\"]}") == ["escalateAfterSeconds"])
        #expect(try fields("{\(base), \"escalateAfterSeconds\": 60, \"escalateTo\": [\"not an address\"]}") == ["escalateTo[0]"])
    }
}

struct ChannelValidationTests {
    @Test func theChannelIsChosenPerRequestOrByDefault() throws {
        func validated(_ json: String, default channel: NotificationChannel) throws -> ValidatedApprovalRequest {
            try GreenlightJSON.decode(ApprovalRequestBody.self, from: Data(json.utf8))
                .validate(defaultApprover: "x@example.com", defaultChannel: channel).get()
        }
        let base = #""requestId": "R", "amount": 1, "description": "d""#
        #expect(try validated("{\(base)}", default: .email).notify == .email)
        #expect(try validated("{\(base)}", default: .webhook).event(submittedAt: Date()).notify == .webhook)
        #expect(try validated("{\(base), \"notify\": \"email\"}", default: .webhook).notify == .email)
        #expect(throws: DecodingError.self) { try validated("{\(base), \"notify\": \"pigeon\"}", default: .email) }
    }

    @Test func aWebhookCarriesOneApproversLinkOnly() throws {
        func problem(_ json: String, default channel: NotificationChannel) throws -> [Problem.FieldError] {
            let result = try GreenlightJSON.decode(ApprovalRequestBody.self, from: Data(json.utf8))
                .validate(defaultApprover: "x@example.com", defaultChannel: channel)
            guard case .failure(let problem) = result else { return [] }
            return problem.errors ?? []
        }
        let base = #""requestId": "R", "amount": 1, "description": "d""#
        let two = #""approvers": ["a@example.com", "b@example.com"]"#
        let refused = try problem("{\(base), \(two), \"notify\": \"webhook\"}", default: .email)
        #expect(refused.map(\.field) == ["notify"])
        #expect(refused.first?.message.contains("one approver only") == true)
        // By default as well, and the message names the setting that chose it.
        let byDefault = try problem("{\(base), \(two), \"policy\": \"all\"}", default: .webhook)
        #expect(byDefault.first?.message.contains("GREENLIGHT_DEFAULT_CHANNEL") == true)
        // Escalation would add a second reader's links to the same destination.
        let escalated = #""approvers": ["a@example.com"], "escalateAfterSeconds": 60, "escalateTo": ["boss@example.com"]"#
        #expect(try problem("{\(base), \(escalated), \"notify\": \"webhook\"}", default: .email).map(\.field) == ["notify"])
        // One approver is fine; so are several by email when webhook is only the default.
        #expect(try problem("{\(base), \"approvers\": [\"a@example.com\"], \"notify\": \"webhook\"}", default: .email).isEmpty)
        #expect(try problem("{\(base), \(two), \"notify\": \"email\"}", default: .webhook).isEmpty)
    }
}

struct JSONTextTests {
    @Test func jsonTextIsWhatTheEncoderWrites() throws {
        let values: [JSONValue] = [
            .null, .bool(true), .bool(false), .number(3), .number(-2.5), .number(0.1), .number(1e20), .number(123456789012),
            .number(-0.000123), .string(""), .string("plain"), .string("quote \" backslash \\ slash / tab \t nl \n cr \r"),
            .string("control \u{01}\u{1f} bell \u{07} ff \u{0c} bs \u{08}"), .string("ünïcødé 😀 €"),
            .array([]), .array([.number(1), .string("a"), .null]), .object([:]),
            .object(["b": .number(1), "a": .object(["z": .array([.bool(true)]), "y": .string("x")]), "Ä": .null]),
        ]
        for value in values {
            let expected = String(decoding: try GreenlightJSON.encode(value), as: UTF8.self)
            #expect(value.jsonText == expected)
            #expect(try GreenlightJSON.decode(JSONValue.self, from: Data(value.jsonText.utf8)) == value)
        }
    }
}

struct BackoffTests {
    @Test func delaysDoubleUpToTheMaximumEachDrawnWithinItsJitter() {
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(10), jitter: 0.5)
        func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
        #expect((1...6).map { seconds(backoff.ceiling(afterAttempt: $0)) } == [1, 2, 4, 8, 10, 10])
        for attempt in 1...6 {
            let ceiling = backoff.ceiling(afterAttempt: attempt)
            for _ in 0..<50 {
                let delay = backoff.delay(afterAttempt: attempt)
                #expect(delay <= ceiling && delay >= ceiling / 2, "attempt \(attempt): \(delay)")
            }
        }
        // Without jitter, the schedule itself; a huge attempt number stays at the maximum.
        let exact = Backoff(initial: .milliseconds(100), maximum: .seconds(5), jitter: 0)
        #expect(abs(seconds(exact.delay(afterAttempt: 3)) - 0.4) < 1e-9)
        #expect(exact.delay(afterAttempt: 10_000) == .seconds(5))
    }
}
