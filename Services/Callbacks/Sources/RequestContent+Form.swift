import GreenlightModels

extension RequestContent {
    /// A decision's answers read from form fields (`response.<name>` → text), and what breaks the request's rules (its
    /// reason and typed answers) — empty when the decision may count. The review page and the Slack modal both post
    /// their fields so; the orchestrator checks the rules again, as it does for every decision.
    func answers(to decision: Decision, comment: String?, form: [String: String]) -> (
        response: JSONValue?, problems: [Problem.FieldError]
    ) {
        var response: JSONValue?
        var problems: [Problem.FieldError] = []
        if let responseSchema {
            let (answers, unreadable) = responseSchema.answers(fromForm: form)
            response = answers
            problems = unreadable
        }
        if problems.isEmpty { problems = check(decision, comment: comment, response: response) }
        return (response, problems)
    }
}
