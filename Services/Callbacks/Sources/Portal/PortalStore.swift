import Foundation
import Postgres

/// The inbox's SQL on its own tables (`PortalSchema`): sign-in links and sessions, by the hashes of their secrets.
/// Every time is the database's.
struct PortalStore: Sendable {
    let pool: PostgresPool

    // MARK: - Sign-in links

    /// Keeps a new link's hash; it works for `ttl` seconds from now. Returns the database's time and the expiry.
    func createLink(hash: String, email: String, ttl: Int) async throws -> (now: Date, expiresAt: Date) {
        let rows = try await pool.query(
            """
            INSERT INTO portal_sign_in_links (token_hash, email, expires_at)
            VALUES (\(hash), \(email), now() + \(ttl) * interval '1 second')
            RETURNING created_at, expires_at
            """
        ).decode((Date, Date).self)
        guard let row = rows.first else { throw PostgresError(.decodingFailed, "the sign-in link was not stored") }
        return (row.0, row.1)
    }

    /// Whether a link would sign someone in (its page offers the button): nil when no such link exists.
    func linkIsUsable(hash: String) async throws -> Bool? {
        try await pool.query(
            """
            SELECT used_at IS NULL AND expires_at > now() FROM portal_sign_in_links WHERE token_hash = \(hash)
            """
        ).column(Bool.self).first
    }

    /// Uses a link up, once: the email it was sent to, or nil when it is unknown, used or expired. One statement,
    /// so two presses of the same link cannot both sign in.
    func consumeLink(hash: String) async throws -> String? {
        try await pool.query(
            """
            UPDATE portal_sign_in_links SET used_at = now()
            WHERE token_hash = \(hash) AND used_at IS NULL AND expires_at > now()
            RETURNING email
            """
        ).column(String.self).first
    }

    // MARK: - Sessions

    /// A stored session, as a request finds it.
    struct StoredSession: Sendable {
        var email: String
        var csrfToken: String
        /// Older than the rotation interval: the next answer carries a new id.
        var dueForRotation: Bool
    }

    /// Starts a session that ends `maxAge` seconds from now at the latest.
    func createSession(idHash: String, email: String, csrfToken: String, maxAge: Int) async throws {
        try await pool.query(
            """
            INSERT INTO portal_sessions (id_hash, email, csrf_token, expires_at)
            VALUES (\(idHash), \(email), \(csrfToken), now() + \(maxAge) * interval '1 second')
            """)
    }

    /// The session with this id hash if it has neither ended nor been idle for `idle` seconds; marks it seen.
    func touchSession(idHash: String, idle: Int, rotateAfter: Int) async throws -> StoredSession? {
        try await pool.query(
            """
            UPDATE portal_sessions SET last_seen_at = now()
            WHERE id_hash = \(idHash) AND expires_at > now() AND last_seen_at > now() - \(idle) * interval '1 second'
            RETURNING email, csrf_token,
                      created_at < now() - \(rotateAfter) * interval '1 second'
                          AND expires_at > now() + \(Self.rotationGrace) * interval '1 second'
            """
        ).decode((String, String, Bool).self).first.map { StoredSession(email: $0.0, csrfToken: $0.1, dueForRotation: $0.2) }
    }

    /// How long the id a rotation replaced keeps working, for requests the browser had already sent with it.
    static let rotationGrace = 60

    /// Replaces a session's id: the new one has the same person, CSRF token and absolute end; the old one ends
    /// within `rotationGrace`. Returns the seconds the new one has left, or nil when another request rotated it first.
    func rotateSession(from oldHash: String, to newHash: String) async throws -> Int? {
        try await pool.query(
            """
            WITH old AS (
                UPDATE portal_sessions s SET expires_at = least(s.expires_at, now() + \(Self.rotationGrace) * interval '1 second')
                FROM portal_sessions o
                WHERE s.id_hash = \(oldHash) AND o.id_hash = s.id_hash
                  AND s.expires_at > now() + \(Self.rotationGrace) * interval '1 second'
                RETURNING s.id_hash, s.email, s.csrf_token, o.expires_at AS absolute
            )
            INSERT INTO portal_sessions (id_hash, email, csrf_token, expires_at, rotated_from)
            SELECT \(newHash), email, csrf_token, absolute, id_hash FROM old
            RETURNING ceil(extract(epoch FROM expires_at - now()))::int
            """
        ).column(Int.self).first
    }

    /// Ends a session, and the one it was rotated from (still in its grace minute).
    func deleteSession(idHash: String) async throws {
        try await pool.query(
            """
            DELETE FROM portal_sessions
            WHERE id_hash = \(idHash)
               OR id_hash = (SELECT rotated_from FROM portal_sessions WHERE id_hash = \(idHash))
            """)
    }

    /// Deletes sign-in links and sessions that ended a day ago or more, a bounded number at a time.
    func prune(limit: Int = 500) async throws {
        try await pool.query(
            """
            DELETE FROM portal_sign_in_links WHERE token_hash IN (
                SELECT token_hash FROM portal_sign_in_links WHERE expires_at < now() - interval '1 day' LIMIT \(limit))
            """)
        try await pool.query(
            """
            DELETE FROM portal_sessions WHERE id_hash IN (
                SELECT id_hash FROM portal_sessions WHERE expires_at < now() - interval '1 day' LIMIT \(limit))
            """)
    }
}
