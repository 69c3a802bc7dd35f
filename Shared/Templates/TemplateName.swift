/// Every built-in template, by the name its file has in `Defaults/` (and an override in `GREENLIGHT_TEMPLATE_DIR`),
/// less `.mustache`. `page-*` are the callback receiver's pages (`portal-*` and `inbox-*` its inbox's, `console-*` its
/// operator console's), `email-*` the
/// notifier's emails; layouts and the pieces pages share are partials the others include.
public enum TemplateName: String, CaseIterable, Sendable {
    case pageLayout = "page-layout"
    case pageDetails = "page-details"
    case pagePolicyNote = "page-policy-note"
    case pageStatus = "page-status"
    case pageDecisionForm = "page-decision-form"
    case pageReview = "page-review"
    case pageDecided = "page-decided"
    case pageVoteRecorded = "page-vote-recorded"
    case pageReceived = "page-received"
    case pageFourEyes = "page-four-eyes"
    case pageNotApplied = "page-not-applied"
    case pageAlreadyDecided = "page-already-decided"
    case pageExpired = "page-expired"
    case pageUnknownLink = "page-unknown-link"
    case pageUnavailable = "page-unavailable"
    case pageFormRefused = "page-form-refused"
    case pageTooManyRequests = "page-too-many-requests"
    case pageResponseFields = "page-response-fields"
    case portalSignIn = "portal-sign-in"
    case portalCheckEmail = "portal-check-email"
    case portalSignInConfirm = "portal-sign-in-confirm"
    case portalLinkSpent = "portal-link-spent"
    case portalFormRefused = "portal-form-refused"
    case portalDisabled = "portal-disabled"
    case inboxStyle = "inbox-style"
    case inboxItem = "inbox-item"
    case inboxList = "inbox-list"
    case inboxRequest = "inbox-request"
    case inboxResults = "inbox-results"
    case inboxNotFound = "inbox-not-found"
    case inboxDelegation = "inbox-delegation"
    case consoleLayout = "console-layout"
    case consoleSignIn = "console-sign-in"
    case consoleMessage = "console-message"
    case consoleList = "console-list"
    case consoleRequest = "console-request"
    case consoleDeadLetters = "console-dead-letters"
    case emailLayout = "email-layout"
    case emailApprovalSubject = "email-approval.subject"
    case emailApprovalText = "email-approval.text"
    case emailApprovalHTML = "email-approval.html"
    case emailReceiptSubject = "email-receipt.subject"
    case emailReceiptText = "email-receipt.text"
    case emailReceiptHTML = "email-receipt.html"
    case emailDelegatedSubject = "email-delegated.subject"
    case emailDelegatedText = "email-delegated.text"
    case emailDelegatedHTML = "email-delegated.html"
    case emailSignInSubject = "email-sign-in.subject"
    case emailSignInText = "email-sign-in.text"
    case emailSignInHTML = "email-sign-in.html"

    /// Whether a template (built-in or an operator's) is plain text, where nothing is escaped: those named
    /// `*.text` or `*.subject`. All others are HTML, where `{{value}}` is HTML-escaped.
    static func isPlainText(_ name: String) -> Bool {
        name.hasSuffix(".text") || name.hasSuffix(".subject")
    }
}
