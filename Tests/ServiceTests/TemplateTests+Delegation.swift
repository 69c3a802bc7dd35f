import Foundation
import GreenlightModels
import Mail
import Notifier
import Templates
import Testing

extension TemplateTests {
    /// A delegate's email says in whose place they are asked; the approver's notice says where the request went,
    /// and has no links.
    @Test func aDelegateIsToldWhosePlaceAndTheApproverWhereTheRequestWent() throws {
        let templates = try TemplateLibrary()
        var asked = notification
        asked.approver = "b@example.com"
        asked.onBehalfOf = "a@example.com"
        let mail = ApprovalEmail.make(
            for: asked, linkToken: "TOKEN_abcdefghijklmnop", publicURL: "https://approvals.example.com",
            from: "greenlight@example.com", templates: templates)
        #expect(mail.text.contains("You are asked in place of a@example.com, who is away: your decision counts as theirs."))
        #expect(mail.html?.contains("You are asked in place of a@example.com") == true)
        #expect(!approvalEmail(templates).text.contains("in place of"))

        var notice = notification
        notice.kind = .delegated
        notice.delegate = "b@example.com"
        let sent = DelegationNoticeEmail.make(for: notice, from: "greenlight@example.com", templates: templates)
        #expect(sent.subject == "REQ-9 went to b@example.com while you are away: Laptop <pro> & dock")
        #expect(sent.to == ["a@example.com"])
        #expect(sent.text.contains("b@example.com stands in for you under your delegation"))
        #expect(!sent.text.contains("https://") && sent.html?.contains("/approve/") == false)
        #expect(sent.html?.contains("Laptop &lt;pro&gt; &amp; dock") == true)
    }
}
