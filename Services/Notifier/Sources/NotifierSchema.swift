import Postgres

/// The notifier's own table: every message it must deliver, with its delivery state, so that a delivery survives
/// restarts and outages and a message is never sent twice. The notifier migrates it (and nothing else) at start.
public enum NotifierSchema {
    public static let component = "notifier"

    public static let migrations: [PostgresMigration] = [
        PostgresMigration(
            version: 1, name: "messages to deliver",
            sql: """
                -- One row per notification (its eventId): inserted when consumed, claimed by one sender at a time,
                -- retried with back-off until sent, refused for good, or past the request's deadline. The payload is
                -- the NotificationRequested event, which carries the link's nonce and never the token itself.
                CREATE TABLE notifier_messages (
                    notification_id  uuid PRIMARY KEY,
                    request_id       text NOT NULL,
                    approver         text NOT NULL,
                    channel          text NOT NULL,
                    payload          text NOT NULL,
                    trace_parent     text,
                    source_partition integer NOT NULL,
                    source_offset    bigint NOT NULL,
                    deadline         timestamptz NOT NULL,
                    status           text NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
                    attempts         integer NOT NULL DEFAULT 0,
                    -- When a pending message is next tried; when a claim on a sending one runs out.
                    due_at           timestamptz NOT NULL,
                    last_error       text,
                    received_at      timestamptz NOT NULL DEFAULT now(),
                    finished_at      timestamptz,
                    -- The latest delivery report not yet published to the orchestrator, if any.
                    report_result    text CHECK (report_result IN ('delivered', 'retrying', 'failed')),
                    report_at        timestamptz
                );
                CREATE INDEX notifier_messages_due ON notifier_messages (due_at) WHERE status IN ('pending', 'sending');
                CREATE INDEX notifier_messages_reports ON notifier_messages (report_at) WHERE report_result IS NOT NULL;
                CREATE INDEX notifier_messages_finished ON notifier_messages (finished_at) WHERE finished_at IS NOT NULL;
                """),
        PostgresMigration(
            version: 2, name: "one approver's messages in order",
            sql: """
                -- A claim looks for an earlier undelivered message to the same approver about the same request.
                CREATE INDEX notifier_messages_unfinished_per_approver
                    ON notifier_messages (request_id, approver, channel, source_partition, source_offset)
                    WHERE status IN ('pending', 'sending');
                """),
        PostgresMigration(
            version: 3, name: "outcome webhooks",
            sql: """
                -- A row is either a notification to an approver or an outcome webhook (a WebhookRequested, keyed by its
                -- eventId, with approver and channel 'callback' so that one request's webhooks go in order); both are
                -- claimed, retried and reported the same way. The receiver's last HTTP status goes in the report.
                ALTER TABLE notifier_messages
                    ADD COLUMN kind text NOT NULL DEFAULT 'notification' CHECK (kind IN ('notification', 'webhook')),
                    ADD COLUMN last_status integer;
                """),
        PostgresMigration(
            version: 4, name: "inbox sign-in emails",
            sql: """
                -- A row may also be a SignInLinkRequested: an email with a link to sign in to the inbox (approver is
                -- the address, request_id its key, deadline the link's expiry); claimed and retried the same way, and
                -- reported to nobody.
                ALTER TABLE notifier_messages DROP CONSTRAINT notifier_messages_kind_check;
                ALTER TABLE notifier_messages ADD CONSTRAINT notifier_messages_kind_check
                    CHECK (kind IN ('notification', 'webhook', 'sign-in'));
                """),
        PostgresMigration(
            version: 5, name: "slack direct messages",
            sql: """
                -- A row may also be a Slack direct message to an approver (kind 'slack', channel 'slack'): the same
                -- NotificationRequested as the approver's email, under an id derived from its eventId.
                ALTER TABLE notifier_messages DROP CONSTRAINT notifier_messages_kind_check;
                ALTER TABLE notifier_messages
                    ADD CONSTRAINT notifier_messages_kind_check CHECK (kind IN ('notification', 'webhook', 'sign-in', 'slack'));
                -- Every Slack message posted, to update when its request ends: which conversation and ts name it,
                -- who it went to, and the summary it showed (kept above the outcome line). final_text is the outcome
                -- to show; updated_at is set once chat.update took it (or failed for good, with last_error).
                CREATE TABLE slack_messages (
                    notification_id uuid PRIMARY KEY,
                    request_id      text NOT NULL,
                    approver        text NOT NULL,
                    slack_user      text NOT NULL,
                    channel         text NOT NULL,
                    ts              text NOT NULL,
                    summary         text NOT NULL,
                    posted_at       timestamptz NOT NULL DEFAULT now(),
                    final_text      text,
                    update_due_at   timestamptz,
                    update_attempts integer NOT NULL DEFAULT 0,
                    updated_at      timestamptz,
                    last_error      text
                );
                CREATE INDEX slack_messages_request ON slack_messages (request_id);
                CREATE INDEX slack_messages_to_update ON slack_messages (update_due_at)
                    WHERE final_text IS NOT NULL AND updated_at IS NULL;
                -- How each request ended, as its Slack messages say it: a message posted after the outcome arrived is
                -- updated too.
                CREATE TABLE slack_outcomes (
                    request_id  text PRIMARY KEY,
                    final_text  text NOT NULL,
                    received_at timestamptz NOT NULL DEFAULT now()
                );
                """),
        PostgresMigration(
            version: 6, name: "daily digest emails",
            sql: """
                -- A row may also be a DigestRequested: the day's digest for one person (approver is the address,
                -- request_id its key, deadline when it goes stale); claimed and retried like a sign-in email.
                ALTER TABLE notifier_messages DROP CONSTRAINT notifier_messages_kind_check;
                ALTER TABLE notifier_messages ADD CONSTRAINT notifier_messages_kind_check
                    CHECK (kind IN ('notification', 'webhook', 'sign-in', 'slack', 'digest'));
                """),
        PostgresMigration(
            version: 7, name: "no planner statistics on what is only read back",
            sql: """
                -- A message's payload (the event it sends) and its last error are read by id, never compared: ANALYZE
                -- does not sample them (see the engine's migration 13).
                ALTER TABLE notifier_messages
                    ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN last_error SET STATISTICS 0;
                """),
        PostgresMigration(
            version: 8, name: "the order check a claim makes, by a full index",
            sql: """
                -- A claim's check for an earlier unfinished message to the same recipient went through the partial index
                -- of version 2. A partial index the last ANALYZE or VACUUM found empty (every message sent, then a burst)
                -- is planned as empty: the planner scanned the whole of it, or of the due index, for every candidate, and
                -- after 20,000 approvals a burst of 10,000 messages made claims of a minute. The check now asks for
                -- finished_at IS NULL, which implies no partial index's condition, through an index of every row, whose
                -- size the planner knows; the constraint keeps finished_at saying what status says.
                ALTER TABLE notifier_messages ADD CONSTRAINT notifier_messages_finished_when_done
                    CHECK ((finished_at IS NULL) = (status IN ('pending', 'sending')));
                CREATE INDEX notifier_messages_in_order
                    ON notifier_messages (request_id, approver, channel, source_partition, source_offset);
                DROP INDEX notifier_messages_unfinished_per_approver;
                """),
    ]
}
