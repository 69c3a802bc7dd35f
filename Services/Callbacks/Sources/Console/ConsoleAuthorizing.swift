import Crypto
import Hummingbird
import ServiceSupport

/// Who is using the operator console.
public struct ConsoleOperator: Sendable, Equatable {
    /// Recorded with every action taken in the console (the API key's name, or a signed-in admin's address).
    public var name: String
    /// What every console form carries in its hidden `csrf` field, when the credential is one a browser sends by
    /// itself (a session cookie); nil when it is not (a bearer key: a page on another site cannot make the browser
    /// send it, so there is nothing to forge).
    public var csrfToken: String?

    public init(name: String, csrfToken: String? = nil) {
        self.name = name
        self.csrfToken = csrfToken
    }
}

/// The console's credential is not allowed in: the page says why and what would be.
public struct ConsoleAccessDenied: Error, Sendable {
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }
}

/// Decides who may use the console. Each implementation knows one kind of credential (an admin API key, an admin's
/// portal session); every console request asks `consoleOperator(for:)` and every console POST `acceptsForm`.
public protocol ConsoleAuthorizing: Sendable {
    /// The operator the request comes from; nil when it presents no credential this authorizer knows (the console
    /// then answers 401 with a page saying how to sign in). Throws `ConsoleAccessDenied` for a credential that is
    /// known but may not use the console (a key without the admin scope).
    func consoleOperator(for request: Request) async throws -> ConsoleOperator?

    /// Whether a form posted by `consoleOperator` was made by the console itself (its CSRF check): `fields` are the
    /// decoded form fields.
    func acceptsForm(_ fields: [String: String], from consoleOperator: ConsoleOperator, request: Request) -> Bool
}

extension ConsoleAuthorizing {
    /// The form's `csrf` field must equal the operator's token, when they have one (compared in constant time).
    public func acceptsForm(_ fields: [String: String], from consoleOperator: ConsoleOperator, request: Request) -> Bool {
        guard let expected = consoleOperator.csrfToken else { return true }
        guard let given = fields["csrf"] else { return false }
        return Array(SHA256.hash(data: Array(given.utf8))) == Array(SHA256.hash(data: Array(expected.utf8)))
    }
}

/// An `admin`-scoped API key (`GREENLIGHT_API_KEYS`) presented as `Authorization: Bearer <secret>`. The console
/// always needs one, even when the program APIs are open (`GREENLIGHT_INTAKE_AUTH=none`): it is on the public port.
public struct BearerKeyConsoleAuthorizer: ConsoleAuthorizing {
    let apiKeys: APIKeys

    public init(apiKeys: APIKeys) {
        self.apiKeys = apiKeys
    }

    public func consoleOperator(for request: Request) async throws -> ConsoleOperator? {
        guard request.headers[.authorization] != nil else { return nil }
        guard let key = apiKeys.authenticate(request) else {
            throw ConsoleAccessDenied("The key presented is not one of this deployment's keys (GREENLIGHT_API_KEYS).")
        }
        guard key.allows(.admin) else {
            throw ConsoleAccessDenied(
                "The key \"\(key.name)\" may \(key.scopes.sorted().map(\.rawValue).joined(separator: ", ")); the console "
                    + "needs a key with the admin scope.")
        }
        return ConsoleOperator(name: key.name)
    }
}
