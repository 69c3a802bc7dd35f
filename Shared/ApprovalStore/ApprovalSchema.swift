import Postgres

/// The approval tables: each request's state as clients see it, its link tokens and every decision attempt.
/// The workflow machinery (executions, callbacks, timers, history, inbox, outbox) is the durable engine's.
/// The orchestrator writes these tables; intake reads requests for status and the callback receiver reads
/// link tokens. Every service that uses them migrates at start (advisory-locked).
public enum ApprovalSchema {
    public static let component = "approvals"
    /// The tables that grow with every request (see `TableGrowth`).
    public static let growingTables = [
        "approval_requests", "link_tokens", "decision_attempts", "approval_votes", "notification_deliveries",
    ]

    public static let migrations: [PostgresMigration] = [
        PostgresMigration(
            version: 1, name: "requests, link tokens, decision attempts",
            sql: """
                CREATE TABLE approval_requests (
                    request_id       text PRIMARY KEY,
                    execution_id     uuid NOT NULL UNIQUE,
                    callback_id      uuid NOT NULL,
                    status           text NOT NULL CHECK (status IN
                                         ('pending', 'approved', 'rejected', 'timed_out', 'failed', 'cancelled')),
                    amount           double precision NOT NULL,
                    currency         text NOT NULL,
                    description      text NOT NULL,
                    requester        text,
                    approvers        text[] NOT NULL,
                    on_timeout       text NOT NULL,
                    submitted_at     timestamptz NOT NULL,
                    expires_at       timestamptz NOT NULL,
                    created_at       timestamptz NOT NULL DEFAULT now(),
                    decided_by       text,
                    decided_at       timestamptz,
                    decision_channel text,
                    decision_comment text,
                    error_type       text,
                    error_message    text,
                    completed_at     timestamptz
                );
                CREATE INDEX approval_requests_pending ON approval_requests (expires_at) WHERE status = 'pending';

                -- Only the SHA-256 of each token is kept; the token itself lives in the approver's email.
                CREATE TABLE link_tokens (
                    token_hash  text PRIMARY KEY,
                    request_id  text NOT NULL REFERENCES approval_requests (request_id),
                    callback_id uuid NOT NULL,
                    approver    text NOT NULL,
                    expires_at  timestamptz NOT NULL,
                    used_at     timestamptz
                );
                CREATE INDEX link_tokens_request ON link_tokens (request_id);
                CREATE INDEX link_tokens_expiry ON link_tokens (expires_at);

                -- Every decision that reached the orchestrator: the winning one and any that came too late.
                CREATE TABLE decision_attempts (
                    id          bigserial PRIMARY KEY,
                    request_id  text NOT NULL,
                    event_id    uuid NOT NULL,
                    decision    text NOT NULL,
                    decided_by  text NOT NULL,
                    channel     text NOT NULL,
                    decided_at  timestamptz NOT NULL,
                    accepted    boolean NOT NULL,
                    reason      text,
                    recorded_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX decision_attempts_request ON decision_attempts (request_id);
                """),
        PostgresMigration(
            version: 2, name: "trace context and listing pending requests",
            sql: """
                -- The request's W3C traceparent: a click joins the trace the request started.
                ALTER TABLE approval_requests ADD COLUMN trace_parent text;
                -- Operators list pending requests oldest first.
                CREATE INDEX approval_requests_pending_submitted ON approval_requests (submitted_at) WHERE status = 'pending';
                """),
        PostgresMigration(
            version: 3, name: "approval policies and votes",
            sql: """
                -- How the approvers' decisions combine: any, all or quorum:N.
                ALTER TABLE approval_requests ADD COLUMN policy text NOT NULL DEFAULT 'any';

                -- Each approver's decision that counted, one per approver (the audit trail of the outcome).
                CREATE TABLE approval_votes (
                    id             bigserial PRIMARY KEY,
                    request_id     text NOT NULL REFERENCES approval_requests (request_id),
                    approver       text NOT NULL,
                    decision       text NOT NULL CHECK (decision IN ('approve', 'reject')),
                    channel        text NOT NULL,
                    comment        text,
                    decided_at     timestamptz NOT NULL,
                    client_address text,
                    user_agent     text,
                    recorded_at    timestamptz NOT NULL DEFAULT now()
                );
                CREATE UNIQUE INDEX approval_votes_one_per_approver ON approval_votes (request_id, lower(approver));

                -- Where a link decision came from.
                ALTER TABLE decision_attempts ADD COLUMN client_address text, ADD COLUMN user_agent text;
                """),
        PostgresMigration(
            version: 4, name: "link token nonces for reminders",
            sql: """
                -- The nonce a link token is derived from (with GREENLIGHT_LINK_SECRET, which the database does not
                -- hold): a reminder re-sends the same link.
                ALTER TABLE link_tokens ADD COLUMN token_nonce uuid;
                """),
        PostgresMigration(
            version: 5, name: "notification deliveries",
            sql: """
                -- The latest report on each notification (delivered, retrying, failed), from the notifiers.
                CREATE TABLE notification_deliveries (
                    notification_id uuid PRIMARY KEY,
                    request_id      text NOT NULL,
                    approver        text NOT NULL,
                    kind            text NOT NULL,
                    result          text NOT NULL,
                    attempts        integer NOT NULL,
                    error           text,
                    at              timestamptz NOT NULL
                );
                CREATE INDEX notification_deliveries_request ON notification_deliveries (request_id);
                """),
        PostgresMigration(
            version: 6, name: "notification channel per request",
            sql: """
                ALTER TABLE approval_requests ADD COLUMN notify_channel text NOT NULL DEFAULT 'email';
                """),
        PostgresMigration(
            version: 7, name: "decisions that arrive before their request",
            sql: """
                -- A decision whose request's workflow has not started yet (possible on the decisions topic): kept
                -- as the event itself, and applied through the request's policy once the workflow starts.
                CREATE TABLE early_decisions (
                    id          bigserial PRIMARY KEY,
                    request_id  text NOT NULL,
                    event       text NOT NULL,
                    received_at timestamptz NOT NULL
                );
                CREATE INDEX early_decisions_request ON early_decisions (request_id);
                CREATE INDEX early_decisions_received ON early_decisions (received_at);
                """),
        PostgresMigration(
            version: 8, name: "the link secret each token was made with",
            sql: """
                -- The id (LinkSecret.id, never the secret) of the GREENLIGHT_LINK_SECRET a token was derived with, so
                -- that a reminder or resend after a rotation asks the notifier for the same token. NULL: made before
                -- ids were kept, with the secret current then.
                ALTER TABLE link_tokens ADD COLUMN link_key text;
                -- The orchestrator names those at each start: through this index, which is empty once they are named,
                -- rather than a scan of every link.
                CREATE INDEX link_tokens_unnamed_key ON link_tokens (token_hash) WHERE link_key IS NULL;
                """),
        PostgresMigration(
            version: 9, name: "the API key each action came through",
            sql: """
                -- The name (never the secret) of the API key a decision or vote was made with, through a program API.
                ALTER TABLE approval_votes ADD COLUMN api_key text;
                ALTER TABLE decision_attempts ADD COLUMN api_key text;
                """),
        PostgresMigration(
            version: 10, name: "decisions that arrive before their request are the engine's signals",
            sql: """
                -- The approval workflow receives decisions as the engine's signals, which the engine keeps when they
                -- arrive before the workflow starts: the decisions kept here move there (a signal is the event).
                INSERT INTO durable_signals (execution_name, payload, received_at)
                SELECT request_id, event, received_at FROM early_decisions ORDER BY id;
                DROP TABLE early_decisions;
                """),
        PostgresMigration(
            version: 11, name: "any request: content beyond the purchase fields, typed answers",
            sql: """
                -- A request need not be a purchase: amount and currency are optional.
                ALTER TABLE approval_requests ALTER COLUMN amount DROP NOT NULL, ALTER COLUMN currency DROP NOT NULL;
                -- What a request carries beyond its core fields (RequestContent: title, details, links, metadata, the
                -- response schema, the reason rule, an agent's action and its digest), and the answers of the decision
                -- that settled it. NULL: none.
                ALTER TABLE approval_requests ADD COLUMN content jsonb, ADD COLUMN response jsonb;
                ALTER TABLE approval_votes ADD COLUMN response jsonb;
                """),
        PostgresMigration(
            version: 12, name: "outcome webhook deliveries",
            sql: """
                -- The latest report on each outcome webhook of a request (its Standard Webhooks id), from the
                -- notifiers: delivered, retrying or failed, after how many attempts, and the receiver's last status.
                CREATE TABLE webhook_deliveries (
                    webhook_id  text PRIMARY KEY,
                    request_id  text NOT NULL,
                    event_type  text,
                    result      text NOT NULL CHECK (result IN ('delivered', 'retrying', 'failed')),
                    attempts    integer NOT NULL,
                    status_code integer,
                    error       text,
                    at          timestamptz NOT NULL
                );
                CREATE INDEX webhook_deliveries_request ON webhook_deliveries (request_id);
                """),
        PostgresMigration(
            version: 13, name: "delegation: stand-ins for approvers who are away",
            sql: """
                -- Each approver's delegation (DelegationSet, DelegationCleared): while it applies, requests that reach
                -- the approver also (or instead) go to the delegate. One per approver, keyed by the address in lower
                -- case; times by the database's clock.
                CREATE TABLE delegations (
                    approver  text PRIMARY KEY,
                    delegate  text NOT NULL,
                    mode      text NOT NULL CHECK (mode IN ('also', 'instead')),
                    starts_at timestamptz NOT NULL,
                    ends_at   timestamptz,
                    set_by    text NOT NULL,
                    set_at    timestamptz NOT NULL,
                    reason    text,
                    api_key   text
                );
                CREATE INDEX delegations_delegate ON delegations (lower(delegate));

                -- Who stands in for whom on each request (what the inbox lists for a delegate): written when a
                -- request reaches an approver whose delegation applies; ended when the approver is reassigned away.
                CREATE TABLE approval_stand_ins (
                    request_id text NOT NULL REFERENCES approval_requests (request_id),
                    approver   text NOT NULL,
                    delegate   text NOT NULL,
                    mode       text NOT NULL CHECK (mode IN ('also', 'instead')),
                    since      timestamptz NOT NULL,
                    ended_at   timestamptz
                );
                CREATE UNIQUE INDEX approval_stand_ins_one ON approval_stand_ins (request_id, lower(approver), lower(delegate));
                CREATE INDEX approval_stand_ins_delegate ON approval_stand_ins (lower(delegate)) WHERE ended_at IS NULL;

                -- A delegate's link names the approver it stands in for; their vote and the outcome say so.
                ALTER TABLE link_tokens ADD COLUMN on_behalf_of text;
                ALTER TABLE approval_votes ADD COLUMN on_behalf_of text;
                ALTER TABLE approval_requests ADD COLUMN decided_on_behalf_of text;
                -- One vote per approver's place (the approver's own or a delegate's for them), as well as one per person.
                CREATE UNIQUE INDEX approval_votes_one_per_place
                    ON approval_votes (request_id, lower(coalesce(on_behalf_of, approver)));
                """),
        PostgresMigration(
            version: 14, name: "no planner statistics on what is only read back",
            sql: """
                -- As for the engine's tables (its migration 13): a request's text and JSON, and a vote's, are shown,
                -- never compared, so ANALYZE does not sample them. What the console and the inbox search by (status,
                -- requester, approvers, dates) keeps its statistics.
                ALTER TABLE approval_requests
                    ALTER COLUMN description SET STATISTICS 0, ALTER COLUMN content SET STATISTICS 0,
                    ALTER COLUMN response SET STATISTICS 0, ALTER COLUMN decision_comment SET STATISTICS 0,
                    ALTER COLUMN error_message SET STATISTICS 0;
                ALTER TABLE approval_votes
                    ALTER COLUMN comment SET STATISTICS 0, ALTER COLUMN user_agent SET STATISTICS 0,
                    ALTER COLUMN response SET STATISTICS 0;
                """),
    ]
}
