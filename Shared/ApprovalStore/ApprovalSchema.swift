import Postgres

/// The tables behind approval workflows. The orchestrator writes them; intake reads executions for status and
/// the callback receiver reads link tokens. Every service that uses them migrates at start (advisory-locked).
public enum ApprovalSchema {
    public static let component = "approvals"

    public static let migrations: [PostgresMigration] = [
        PostgresMigration(
            version: 1, name: "executions, callbacks, link tokens, timers, inbox, outbox",
            sql: """
                CREATE TABLE approval_executions (
                    request_id       text PRIMARY KEY,
                    execution_id     uuid NOT NULL UNIQUE,
                    status           text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'timed_out')),
                    amount           double precision NOT NULL,
                    currency         text NOT NULL,
                    description      text NOT NULL,
                    requester        text,
                    approvers        text[] NOT NULL,
                    submitted_at     timestamptz NOT NULL,
                    expires_at       timestamptz NOT NULL,
                    created_at       timestamptz NOT NULL DEFAULT now(),
                    decided_by       text,
                    decided_at       timestamptz,
                    decision_channel text,
                    decision_comment text,
                    completed_at     timestamptz
                );
                CREATE INDEX approval_executions_pending ON approval_executions (expires_at) WHERE status = 'pending';

                CREATE TABLE approval_callbacks (
                    callback_id uuid PRIMARY KEY,
                    request_id  text NOT NULL REFERENCES approval_executions (request_id),
                    name        text NOT NULL,
                    status      text NOT NULL CHECK (status IN ('started', 'succeeded', 'failed', 'timed_out')),
                    timeout_at  timestamptz NOT NULL,
                    started_at  timestamptz NOT NULL DEFAULT now(),
                    ended_at    timestamptz,
                    result      text
                );
                CREATE INDEX approval_callbacks_request ON approval_callbacks (request_id);

                -- Only the SHA-256 of each token is kept; the token itself lives in the approver's email.
                CREATE TABLE link_tokens (
                    token_hash  text PRIMARY KEY,
                    request_id  text NOT NULL REFERENCES approval_executions (request_id),
                    callback_id uuid NOT NULL REFERENCES approval_callbacks (callback_id),
                    approver    text NOT NULL,
                    expires_at  timestamptz NOT NULL,
                    used_at     timestamptz
                );
                CREATE INDEX link_tokens_request ON link_tokens (request_id);

                CREATE TABLE timers (
                    timer_id    uuid PRIMARY KEY,
                    request_id  text NOT NULL REFERENCES approval_executions (request_id),
                    callback_id uuid NOT NULL REFERENCES approval_callbacks (callback_id),
                    due_at      timestamptz NOT NULL,
                    fired_at    timestamptz
                );
                CREATE INDEX timers_due ON timers (due_at) WHERE fired_at IS NULL;

                -- Every decision that reached the orchestrator, the winning one and any that came too late.
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

                -- Consumed events, by eventId: a redelivered event finds its row and has no second effect.
                CREATE TABLE inbox (
                    event_id    uuid PRIMARY KEY,
                    topic       text NOT NULL,
                    received_at timestamptz NOT NULL DEFAULT now()
                );

                -- Events to publish, written in the same transaction as the state they describe.
                CREATE TABLE outbox (
                    id          bigserial PRIMARY KEY,
                    topic       text NOT NULL,
                    message_key text NOT NULL,
                    payload     text NOT NULL,
                    created_at  timestamptz NOT NULL DEFAULT now(),
                    sent_at     timestamptz
                );
                CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
                """)
    ]
}
