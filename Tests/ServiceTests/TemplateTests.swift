import Callbacks
import Foundation
import GreenlightModels
import GreenlightTestSupport
import HummingbirdTesting
import Mail
import Notifier
import ServiceSupport
import Templates
import Testing

/// The pages and emails come from Mustache templates; an operator's directory (`GREENLIGHT_TEMPLATE_DIR`) replaces
/// the ones it has files for, and a directory that cannot be used stops the service at start.
struct TemplateTests {
    /// A fresh directory holding `files` (name → content), removed by `body`'s end.
    @discardableResult
    func withDirectory<T>(_ files: [String: String], _ body: (String) async throws -> T) async throws -> T {
        let directory = TestEnvironment.scratchURL("greenlight-templates-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, content) in files {
            try Data(content.utf8).write(to: directory.appendingPathComponent(name))
        }
        return try await body(directory.path)
    }

    let notification = NotificationRequested(
        requestId: "REQ-9", executionId: UUID(), approver: "a@example.com", tokenNonce: UUID(), amount: 1200,
        currency: "USD", description: "Laptop <pro> & dock", requester: "dev@example.com",
        submittedAt: Date(timeIntervalSince1970: 1_800_000_000), expiresAt: Date(timeIntervalSince1970: 1_800_086_400))

    func approvalEmail(_ templates: TemplateLibrary) -> MailMessage {
        ApprovalEmail.make(
            for: notification, linkToken: "TOKEN_abcdefghijklmnop", publicURL: "https://approvals.example.com",
            from: "greenlight@example.com", templates: templates, now: Date(timeIntervalSince1970: 1_800_000_000))
    }

    @Test func anOverrideReplacesItsPageAndTheOthersStayBuiltIn() async throws {
        let review = """
            {{<page-layout}}
            {{$title}}Freigabe {{request.id}}{{/title}}
            {{$content}}
            <h1>Freigeben? {{request.description}}</h1>
            {{>page-details}}
            {{#forms}}{{>page-decision-form}}{{/forms}}
            {{/content}}
            {{/page-layout}}

            """
        let links = LinkRoutesTests()
        let tokens = FixedTokens(records: [LinkToken.hash(links.token): links.record()])
        try await withDirectory(["page-review.mustache": review]) { directory in
            let templates = try TemplateLibrary(overrides: directory)
            #expect(templates.replaced == ["page-review"] && templates.added.isEmpty)
            try await links.app(tokens, RecordingPublisher(), templates: templates).test(.router) { client in
                let page = String(buffer: try await client.execute(uri: "/approve/\(links.token)", method: .get).body)
                #expect(page.contains("<title>Freigabe REQ-7 · Greenlight</title>"))
                #expect(page.contains("<h1>Freigeben? New &lt;b&gt;server&lt;/b&gt;</h1>"))
                #expect(!page.contains("Approve this request?"))
                // What it includes, and every other page, are still the built-in ones.
                #expect(page.contains("<dt>Amount</dt><dd>USD 5,000.00</dd>"))
                #expect(page.contains(#"<form method="post" action="/approve/\#(links.token)">"#))
                let unknownLink = "/approve/\(String(repeating: "A", count: 22))"
                let unknown = String(buffer: try await client.execute(uri: unknownLink, method: .get).body)
                #expect(unknown.contains("This link is not recognised"))
            }
        }
    }

    @Test func anOverrideReplacesItsEmailPartAndTheOthersStayBuiltIn() async throws {
        let text = """
            Bitte entscheiden: {{request.description}} ({{request.amount}})
            Genehmigen: {{approveURL}}

            """
        try await withDirectory(["email-approval.text.mustache": text, "README.txt": "not a template"]) { directory in
            let mail = approvalEmail(try TemplateLibrary(overrides: directory))
            // Plain text is not escaped, in the operator's template as in the built-in one.
            #expect(
                mail.text == "Bitte entscheiden: Laptop <pro> & dock (USD 1,200.00)\n"
                    + "Genehmigen: https://approvals.example.com/approve/TOKEN_abcdefghijklmnop")
            #expect(mail.subject == "Approval needed: Laptop <pro> & dock (USD 1,200.00)")
            #expect(mail.html?.contains("<p style=\"font-size:16px;margin:0 0 16px\">Laptop &lt;pro&gt; &amp; dock</p>") == true)
        }
        let builtIn = approvalEmail(try TemplateLibrary())
        #expect(builtIn.text.hasPrefix("Approval needed\n\nLaptop <pro> & dock\n\nRequest:    REQ-9\nAmount:     USD 1,200.00\n"))
        #expect(builtIn.text.hasSuffix("This request came from dev@example.com through Greenlight and was sent to a@example.com."))
    }

    @Test func remindersAndEscalationsSayWhy() throws {
        let templates = try TemplateLibrary()
        var reminder = notification
        reminder.kind = .reminder
        let mail = ApprovalEmail.make(
            for: reminder, linkToken: "TOKEN_abcdefghijklmnop", publicURL: "https://approvals.example.com",
            from: "greenlight@example.com", templates: templates)
        #expect(mail.subject == "Reminder: approval needed: Laptop <pro> & dock (USD 1,200.00)")
        #expect(mail.text.hasPrefix("Reminder: approval needed\n\nYou have not decided on this request yet.\n\nLaptop <pro> & dock\n"))
        var escalation = notification
        escalation.kind = .escalation
        let escalated = ApprovalEmail.make(
            for: escalation, linkToken: "TOKEN_abcdefghijklmnop", publicURL: "https://approvals.example.com",
            from: "greenlight@example.com", templates: templates)
        #expect(escalated.html?.contains("This request was escalated to you") == true)
        var receipt = notification
        receipt.kind = .receipt
        receipt.receipt = "Your approval of REQ-9 settled it: it is approved."
        let sent = ReceiptEmail.make(for: receipt, from: "greenlight@example.com", templates: templates)
        #expect(sent.subject == "Your decision on REQ-9: Laptop <pro> & dock")
        #expect(sent.text.contains("\n\nYour approval of REQ-9 settled it: it is approved.\n\n"))
        #expect(sent.html?.contains("Laptop &lt;pro&gt; &amp; dock (USD 1,200.00)") == true)
    }

    @Test func aDirectoryThatCannotBeUsedIsRefusedAtStart() async throws {
        let missing = "/nonexistent/greenlight-templates-\(UUID())"
        #expect {
            try CallbacksConfiguration.load(["GREENLIGHT_TEMPLATE_DIR": missing])
        } throws: { "\($0)".contains("GREENLIGHT_TEMPLATE_DIR is not usable: \"\(missing)\": no such directory") }
        #expect {
            try NotifierConfiguration.load(
                ["GREENLIGHT_LINK_SECRET": "template-tests-secret-0123456789", "GREENLIGHT_TEMPLATE_DIR": missing])
        } throws: { "\($0)".contains("GREENLIGHT_TEMPLATE_DIR is not usable") }

        let broken = """
            {{<page-layout}}
            {{$content}}
            <h1>{{#decision.approve}}Approve{{/decision.reject}}</h1>
            {{/content}}
            {{/page-layout}}

            """
        try await withDirectory(["page-review.mustache": broken]) { directory in
            #expect {
                try CallbacksConfiguration.load(["GREENLIGHT_TEMPLATE_DIR": directory])
            } throws: { error in
                "\(error)".contains("GREENLIGHT_TEMPLATE_DIR is not usable: \"\(directory)/page-review.mustache\", line 3")
                    && "\(error)".contains("does not match the section it closes")
            }
        }
        // Line numbers count from the file's first line in a plain-text template too.
        try await withDirectory(["email-receipt.subject.mustache": "Receipt\n{{#request}}"]) { directory in
            #expect {
                try TemplateLibrary(overrides: directory)
            } throws: { error in
                (error as? TemplateError).map { $0.code == .malformed && $0.line == 2 } ?? false
            }
        }
        // A usable directory is named in the banner with what it changed.
        try await withDirectory(["page-review.mustache": "{{request.id}}", "page-footer.mustache": "footer"]) { directory in
            let configuration = try CallbacksConfiguration.load(["GREENLIGHT_TEMPLATE_DIR": directory])
            #expect(
                configuration.banner.contains("GREENLIGHT_TEMPLATE_DIR=\(directory) replacing page-review adding page-footer"))
        }
    }

    struct Row {
        var name: String
        var note: String?
    }

    struct Inner {
        var title: String
        var note: String?
    }

    struct Outer {
        var note = "outer note"
        var inner = Inner(title: "T & more", note: nil)
        var rows = [Row(name: "a", note: "n1"), Row(name: "b", note: nil)]
        var none: [Row] = []
        var flag = true
        var off = false
        var missing: Inner? = nil
        var present: Inner? = Inner(title: "P", note: "p")
        var map = ["k": "v"]
        var when = Date(timeIntervalSince1970: 0)
        var count = 3
        var words = ["pear", "apple"]
    }

    /// Values are reflected once per render rather than by a Mirror per lookup; what a template sees is the same:
    /// nested names, a nil property that lets the lookup climb to an enclosing value, arrays and `empty(…)`, booleans,
    /// optionals, dictionaries, values that print themselves (a date, a number), a transform that needs comparable
    /// elements (`sorted`) and a struct printed whole, escaped as before.
    @Test func valuesReadOncePerRenderAnswerEveryLookupAsBefore() async throws {
        let template = """
            {{inner.title}}|{{#inner}}{{note}}{{/inner}}|{{#rows}}{{name}}={{note}};{{/rows}}|\
            {{#empty(none)}}empty{{/empty(none)}}{{^empty(rows)}}some{{/empty(rows)}}|{{#flag}}yes{{/flag}}{{^off}}no{{/off}}|\
            {{^missing}}absent{{/missing}}{{#present}}{{title}}{{note}}{{/present}}|{{map.k}}|{{when}}|{{count}}|\
            {{#sorted(words)}}{{.}},{{/sorted(words)}}|{{present}}
            """
        try await withDirectory(["page-expired.mustache": template]) { directory in
            let page = try TemplateLibrary(overrides: directory).render(.pageExpired, Outer())
            #expect(
                page == "T &amp; more|outer note|a=n1;b=outer note;|emptysome|yesno|absentPp|v|\(Date(timeIntervalSince1970: 0))|3|"
                    + "apple,pear,|\(String(describing: Inner(title: "P", note: "p")).replacingOccurrences(of: "\"", with: "&quot;"))")
        }
    }
    /// What a value is (passed as it is, an optional, an array, a struct to reflect) is worked out once per type and
    /// remembered, and an email's values are read once for its subject, text and HTML: neither changes what is
    /// rendered. The same types are rendered with their optionals nil and then present (and the other way round), on
    /// their own, inside an optional and prepared, and each render is what a fresh `Outer` renders.
    @Test func shapesRememberedPerTypeAndPreparedValuesRenderAsBefore() async throws {
        let template = "{{#present}}{{title}}:{{note}}{{/present}}{{^present}}none{{/present}}|{{#rows}}{{name}}={{note}};{{/rows}}"
        try await withDirectory(["page-expired.mustache": template]) { directory in
            let library = try TemplateLibrary(overrides: directory)
            var empty = Outer()
            empty.present = nil
            empty.rows = [Row(name: "x", note: nil)]
            var full = Outer()
            full.present = Inner(title: "Q", note: nil)
            for _ in 0..<2 {
                #expect(library.render(.pageExpired, empty) == "none|x=outer note;")
                #expect(library.render(.pageExpired, full) == "Q:outer note|a=n1;b=outer note;")
                #expect(library.render(.pageExpired, library.prepare(full)) == "Q:outer note|a=n1;b=outer note;")
                #expect(library.render(.pageExpired, Optional(full) as Any) == "Q:outer note|a=n1;b=outer note;")
                #expect(library.render(.pageExpired, Optional<Outer>.none as Any) == "none|")
            }
        }
    }
}
