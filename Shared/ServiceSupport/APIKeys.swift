import Crypto
import GreenlightModels
import Hummingbird

/// What a key may do with the program APIs (intake's and the callback receiver's).
public enum APIScope: String, CaseIterable, Sendable, Comparable {
    /// Submit requests (`POST /v1/requests`).
    case submit
    /// Read a request, its history and the pending list.
    case read
    /// Decide a request on someone's behalf; complete, fail or heartbeat a callback.
    case decide
    /// Cancel and resend — and everything the other scopes allow.
    case admin

    public static func < (a: APIScope, b: APIScope) -> Bool { a.rawValue < b.rawValue }
}

/// One key: its name (recorded with every action it takes), its scopes, and the SHA-256 of its secret (the secret
/// itself is not kept).
public struct APIKey: Sendable, Equatable {
    public let name: String
    public let scopes: Set<APIScope>
    let digest: [UInt8]

    public init(name: String, scopes: Set<APIScope>, secret: String) {
        self.init(name: name, scopes: scopes, digest: Array(SHA256.hash(data: Array(secret.utf8))))
    }

    init(name: String, scopes: Set<APIScope>, digest: [UInt8]) {
        self.name = name
        self.scopes = scopes
        self.digest = digest
    }

    public func allows(_ scope: APIScope) -> Bool { scopes.contains(scope) || scopes.contains(.admin) }
}

/// The keys programs present as `Authorization: Bearer <secret>`, from `GREENLIGHT_API_KEYS` (or the file
/// `GREENLIGHT_API_KEYS_FILE` names), or no check at all when `GREENLIGHT_INTAKE_AUTH=none` opens the APIs.
public struct APIKeys: Sendable {
    public let keys: [APIKey]
    /// Deliberately open (`GREENLIGHT_INTAKE_AUTH=none`): every caller may do everything, and no key is recorded.
    public let open: Bool

    public init(_ keys: [APIKey], open: Bool = false) {
        self.keys = keys
        self.open = open
    }

    /// Bare secrets, each allowed every scope (as `GREENLIGHT_API_KEYS` took them before keys had names).
    public init(_ secrets: [String]) {
        self.init(secrets.filter { !$0.isEmpty }.map { Self.bare($0) })
    }

    static func bare(_ secret: String) -> APIKey {
        let digest = Array(SHA256.hash(data: Array(secret.utf8)))
        // Named after its digest: stable across restarts, and it tells nothing about the secret.
        return APIKey(name: "key-" + Hex.encode(digest.prefix(4)), scopes: Set(APIScope.allCases), digest: digest)
    }

    public static let setting = "GREENLIGHT_API_KEYS"
    public static let format = "name:scope+scope:secret entries (scopes: submit, read, decide, admin; secrets of 16+ "
        + "characters, or sha256:<64 hex digits> of one), separated by commas or line breaks; a bare secret is a key "
        + "with every scope"

    /// Parses `GREENLIGHT_API_KEYS`: entries separated by commas or line breaks (a file may hold one per line, and
    /// lines starting with `#` are comments). Each is `name:scope+scope:secret`, where the secret may also be given as
    /// `sha256:<hex digest>`, or a bare secret, which may do everything.
    public static func parse(_ text: String) throws(ConfigurationError) -> [APIKey] {
        var keys: [APIKey] = []
        var problems: [String] = []
        let entries = text.split(whereSeparator: \.isNewline)
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        for (index, entry) in entries.enumerated() {
            let position = "\(setting) entry \(index + 1)"
            let parts = entry.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else {
                guard !entry.contains(":") else {
                    problems.append("\(position) is neither a bare secret nor name:scope+scope:secret")
                    continue
                }
                guard entry.count >= 16 else {
                    problems.append("\(position) is a secret of \(entry.count) characters; use 16 or more")
                    continue
                }
                keys.append(bare(entry))
                continue
            }
            let (name, scopeList, secret) = (parts[0], parts[1], parts[2])
            guard !name.isEmpty, name.count <= 64,
                name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0) })
            else {
                // Not echoed: an entry with its parts swapped would put a secret in the log.
                problems.append("\(position): its name (the part before the first ':') must be 1–64 letters, digits, '.', '_' or '-'")
                continue
            }
            var scopes: Set<APIScope> = []
            for word in scopeList.split(separator: "+", omittingEmptySubsequences: false) {
                guard let scope = APIScope(rawValue: word.lowercased()) else {
                    // The word is not echoed either: in a swapped entry it would be the secret.
                    problems.append(
                        "\(position): the part between the colons names something that is not a scope; use "
                            + APIScope.allCases.map(\.rawValue).joined(separator: ", ") + ", joined with +")
                    continue
                }
                scopes.insert(scope)
            }
            let digest: [UInt8]
            if secret.lowercased().hasPrefix("sha256:") {
                guard let bytes = Hex.decode(String(secret.dropFirst("sha256:".count))), bytes.count == 32 else {
                    problems.append("\(position): sha256: must be followed by 64 hex digits")
                    continue
                }
                digest = bytes
            } else {
                guard secret.count >= 16 else {
                    problems.append("\(position): its secret has \(secret.count) characters; use 16 or more")
                    continue
                }
                digest = Array(SHA256.hash(data: Array(secret.utf8)))
            }
            keys.append(APIKey(name: name, scopes: scopes, digest: digest))
        }
        for (name, count) in Dictionary(keys.map { ($0.name, 1) }, uniquingKeysWith: +) where count > 1 {
            problems.append("\(setting) names the key \"\(name)\" \(count) times: give each key its own name")
        }
        if Set(keys.map(\.digest)).count < keys.count {
            problems.append("\(setting) holds the same secret twice: give each key its own secret")
        }
        guard problems.isEmpty else { throw ConfigurationError(problems: problems) }
        return keys
    }

    /// Reads `GREENLIGHT_INTAKE_AUTH` (`keys`, the default, or `none`) and `GREENLIGHT_API_KEYS`. With
    /// `requireKeys`, `keys` and no key configured is a problem (the service would refuse every caller).
    public static func read(_ reader: inout EnvironmentReader, requireKeys: Bool) -> APIKeys {
        let mode = reader.string("GREENLIGHT_INTAKE_AUTH", default: "keys").lowercased()
        let text = reader.string(setting, default: "", secret: true)
        var keys: [APIKey] = []
        do {
            keys = try parse(text)
        } catch {
            for problem in error.problems { reader.report(problem) }
        }
        switch mode {
        case "none":
            return APIKeys(keys, open: true)
        case "keys":
            if requireKeys, keys.isEmpty, (try? parse(text)) != nil {
                reader.report(
                    "\(setting) is empty, so nobody could use the API: give it at least one key (\(format)), or set "
                        + "GREENLIGHT_INTAKE_AUTH=none to open the API deliberately, for local use only")
            }
            return APIKeys(keys)
        default:
            reader.report("GREENLIGHT_INTAKE_AUTH must be keys (the default: every API call needs a key) or none, not \"\(mode)\"")
            return APIKeys(keys)
        }
    }

    /// The key the request presents, if any matches. Every key's digest is compared in full, whichever matches,
    /// so the time taken does not tell how close a guess came.
    public func authenticate(_ request: Request) -> APIKey? {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer "
        else { return nil }
        let presented = Array(SHA256.hash(data: Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)))
        var found: APIKey?
        for key in keys {
            var difference: UInt8 = 0
            for index in 0..<presented.count { difference |= key.digest[index] ^ presented[index] }
            if difference == 0 { found = key }
        }
        return found
    }

    /// Whether the request may act with `scope` (always, when the API is open).
    public func allows(_ request: Request, _ scope: APIScope) -> Bool {
        open || authenticate(request)?.allows(scope) == true
    }

    /// The key the request acts with, which must allow `scope`: a 401 problem when it presents none that is
    /// known, a 403 when its key lacks the scope. Nil when the API is open (no key to record).
    @discardableResult
    public func require(_ scope: APIScope, _ request: Request) throws -> APIKey? {
        if open { return nil }
        guard let key = authenticate(request) else {
            let hasHeader = request.headers[.authorization] != nil
            throw Problem(
                type: "https://greenlight.dev/problems/unauthorized", title: "Unauthorized", status: 401,
                detail: keys.isEmpty
                    ? "The API is disabled: no keys are configured (\(Self.setting))."
                    : hasHeader
                        ? "The key presented is not one of this deployment's keys. Send Authorization: Bearer <secret> with a key from \(Self.setting)."
                        : "This call needs an API key: send Authorization: Bearer <secret> with a key from \(Self.setting).")
        }
        guard key.allows(scope) else {
            throw Problem(
                type: "https://greenlight.dev/problems/forbidden", title: "Forbidden", status: 403,
                detail: "The key \"\(key.name)\" may \(key.scopes.sorted().map(\.rawValue).joined(separator: ", ")); this "
                    + "call needs the \(scope.rawValue) scope. Use a key that has it, or add it to this key in \(Self.setting).")
        }
        return key
    }
}
