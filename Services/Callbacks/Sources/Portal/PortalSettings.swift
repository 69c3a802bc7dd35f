import GreenlightModels
import ServiceSupport

/// The inbox's settings, from `GREENLIGHT_*` variables. Without `GREENLIGHT_LINK_SECRET` the inbox is off: sign-in
/// links are derived with it, as the notifier derives them again to email them.
public struct PortalSettings: Sendable {
    /// The secret sign-in tokens are derived with; nil: the inbox is off.
    public var linkSecret: LinkSecret?
    /// How long an emailed sign-in link works (`GREENLIGHT_SIGN_IN_LINK_TTL_SECONDS`, 15 minutes).
    public var signInLinkTTL: Int
    /// A session ends after this long without a request (`GREENLIGHT_SESSION_IDLE_SECONDS`, 8 hours)…
    public var sessionIdle: Int
    /// …and this long after sign-in whatever happens (`GREENLIGHT_SESSION_MAX_SECONDS`, 7 days).
    public var sessionMax: Int
    /// A session older than this gets a new id at its next request (`GREENLIGHT_SESSION_ROTATE_SECONDS`, 15 minutes).
    public var sessionRotate: Int
    /// Sign-in requests per minute from one client address (`GREENLIGHT_SIGN_IN_RATE_LIMIT`, 10; 0: no limit).
    public var signInRateLimit: Int
    /// Sign-in emails per hour to one address (`GREENLIGHT_SIGN_IN_EMAIL_RATE_LIMIT`, 5; 0: no limit).
    public var signInEmailRateLimit: Int
    /// People who may use the operator's pages once signed in (`GREENLIGHT_ADMIN_EMAILS`, comma-separated).
    public var adminEmails: Set<String>
    /// The UTC hour from which the daily digest goes out (`GREENLIGHT_DIGEST_HOUR`, 0–23); nil: no digest.
    public var digestHour: Int?

    public init(
        linkSecret: LinkSecret?, signInLinkTTL: Int = 900, sessionIdle: Int = 28_800, sessionMax: Int = 604_800,
        sessionRotate: Int = 900, signInRateLimit: Int = 10, signInEmailRateLimit: Int = 5, adminEmails: Set<String> = [],
        digestHour: Int? = nil
    ) {
        self.digestHour = digestHour
        self.linkSecret = linkSecret
        self.signInLinkTTL = signInLinkTTL
        self.sessionIdle = sessionIdle
        self.sessionMax = sessionMax
        self.sessionRotate = sessionRotate
        self.signInRateLimit = signInRateLimit
        self.signInEmailRateLimit = signInEmailRateLimit
        self.adminEmails = adminEmails
    }

    public static func read(_ reader: inout EnvironmentReader) -> PortalSettings {
        var secret: LinkSecret?
        if let text = reader.optional("GREENLIGHT_LINK_SECRET", secret: true) {
            secret = LinkSecret(text)
            if secret == nil {
                reader.report(
                    "GREENLIGHT_LINK_SECRET must be at least \(LinkSecret.minimumLength) characters, the same as the "
                        + "orchestrator's and the notifiers' (or unset, which turns the inbox off)")
            }
        }
        let admins = reader.string("GREENLIGHT_ADMIN_EMAILS", default: "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        for admin in admins where !EmailAddress.isValid(admin) {
            reader.report("GREENLIGHT_ADMIN_EMAILS must be email addresses separated by commas, not \"\(admin)\"")
        }
        var digestHour: Int?
        if let text = reader.optional("GREENLIGHT_DIGEST_HOUR") {
            digestHour = Int(text).flatMap { (0...23).contains($0) ? $0 : nil }
            if digestHour == nil {
                reader.report("GREENLIGHT_DIGEST_HOUR must be an hour from 0 to 23 (UTC), not \"\(text)\" (or unset: no daily digest)")
            } else if secret == nil {
                reader.report("GREENLIGHT_DIGEST_HOUR needs GREENLIGHT_LINK_SECRET: the digest links to the inbox, which is off without it")
            }
        }
        return PortalSettings(
            linkSecret: secret,
            signInLinkTTL: reader.int("GREENLIGHT_SIGN_IN_LINK_TTL_SECONDS", default: 900, range: 60...86_400),
            sessionIdle: reader.int("GREENLIGHT_SESSION_IDLE_SECONDS", default: 28_800, range: 1...2_592_000),
            sessionMax: reader.int("GREENLIGHT_SESSION_MAX_SECONDS", default: 604_800, range: 1...31_536_000),
            sessionRotate: reader.int("GREENLIGHT_SESSION_ROTATE_SECONDS", default: 900, range: 1...31_536_000),
            signInRateLimit: reader.int("GREENLIGHT_SIGN_IN_RATE_LIMIT", default: 10, range: 0...100_000),
            signInEmailRateLimit: reader.int("GREENLIGHT_SIGN_IN_EMAIL_RATE_LIMIT", default: 5, range: 0...100_000),
            adminEmails: Set(admins), digestHour: digestHour)
    }
}
