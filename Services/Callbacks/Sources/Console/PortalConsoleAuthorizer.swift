import Hummingbird

/// Who may use the console from a browser or a program: an admin-scoped API key as `Authorization: Bearer` (a program,
/// or a browser set up to send it), or else a person signed in to the portal (`/inbox/sign-in`) whose address is one
/// of `GREENLIGHT_ADMIN_EMAILS`. A signed-in person who is not an admin is told so; their forms must carry the
/// session's CSRF token and come from our own pages, as the inbox's must.
public struct PortalConsoleAuthorizer: ConsoleAuthorizing {
    let keys: BearerKeyConsoleAuthorizer
    let sessions: PortalSessions

    public init(keys: BearerKeyConsoleAuthorizer, sessions: PortalSessions) {
        self.keys = keys
        self.sessions = sessions
    }

    public func consoleOperator(for request: Request) async throws -> ConsoleOperator? {
        if let keyed = try await keys.consoleOperator(for: request) { return keyed }
        guard let session = try await sessions.current(request) else { return nil }
        guard session.isAdmin else {
            throw ConsoleAccessDenied(
                "\(session.email) is signed in, but is not one of this deployment's administrators (GREENLIGHT_ADMIN_EMAILS).")
        }
        return ConsoleOperator(name: session.email, csrfToken: session.csrfToken)
    }

    public func acceptsForm(_ fields: [String: String], from consoleOperator: ConsoleOperator, request: Request) -> Bool {
        guard let token = consoleOperator.csrfToken else { return true }
        let session = PortalSession(email: consoleOperator.name, isAdmin: true, csrfToken: token)
        return sessions.isGenuineForm(request, csrf: fields["csrf"], session: session)
    }
}
