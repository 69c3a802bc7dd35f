import Postgres

/// The durable engine's tables. Nothing here knows about approvals.
public enum DurableSchema {
    public static let component = "durable"
    /// The tables that grow with every execution and are searched (see `TableGrowth`). Not the history nor the inbox:
    /// one is only appended to on the way, the other only reached by its primary key, so no plan of theirs can go
    /// wrong.
    public static let growingTables = [
        "durable_executions", "durable_operation_pages", "durable_callbacks", "durable_timers", "durable_outbox",
    ]

    public static let migrations: [PostgresMigration] = [
        PostgresMigration(
            version: 1, name: "executions, operations, callbacks, timers, history, inbox, outbox",
            sql: """
                CREATE TABLE durable_executions (
                    execution_id  uuid PRIMARY KEY,
                    workflow      text NOT NULL,
                    name          text NOT NULL UNIQUE,
                    status        text NOT NULL CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'STOPPED')),
                    input         text NOT NULL,
                    output        text,
                    error_type    text,
                    error_message text,
                    created_at    timestamptz NOT NULL,
                    updated_at    timestamptz NOT NULL,
                    ended_at      timestamptz
                );
                CREATE INDEX durable_executions_running ON durable_executions (created_at) WHERE status = 'RUNNING';

                -- Checkpoints: one row per operation the workflow performed, in program order.
                CREATE TABLE durable_operations (
                    execution_id  uuid NOT NULL REFERENCES durable_executions (execution_id),
                    position      integer NOT NULL,
                    kind          text NOT NULL,
                    name          text NOT NULL,
                    status        text NOT NULL CHECK (status IN ('STARTED', 'SUCCEEDED', 'FAILED')),
                    result        text,
                    error_type    text,
                    error_message text,
                    updated_at    timestamptz NOT NULL,
                    PRIMARY KEY (execution_id, position)
                );

                CREATE TABLE durable_callbacks (
                    callback_id        uuid PRIMARY KEY,
                    execution_id       uuid NOT NULL REFERENCES durable_executions (execution_id),
                    name               text NOT NULL,
                    status             text NOT NULL CHECK (status IN ('STARTED', 'SUCCEEDED', 'FAILED', 'TIMED_OUT')),
                    timeout_at         timestamptz NOT NULL,
                    heartbeat_seconds  integer,
                    heartbeat_due_at   timestamptz,
                    result             text,
                    error_type         text,
                    error_message      text,
                    started_at         timestamptz NOT NULL,
                    ended_at           timestamptz
                );
                CREATE INDEX durable_callbacks_execution ON durable_callbacks (execution_id);

                -- Completions that arrived before their callback existed, applied when it is created.
                CREATE TABLE durable_early_completions (
                    id             bigserial PRIMARY KEY,
                    execution_name text NOT NULL,
                    callback_name  text NOT NULL,
                    outcome        text NOT NULL CHECK (outcome IN ('SUCCEEDED', 'FAILED')),
                    result         text,
                    error_type     text,
                    error_message  text,
                    received_at    timestamptz NOT NULL
                );
                CREATE INDEX durable_early_completions_target ON durable_early_completions (execution_name, callback_name);

                CREATE TABLE durable_timers (
                    timer_id     uuid PRIMARY KEY,
                    execution_id uuid NOT NULL REFERENCES durable_executions (execution_id),
                    kind         text NOT NULL CHECK (kind IN ('CALLBACK_TIMEOUT', 'CALLBACK_HEARTBEAT', 'WAIT')),
                    callback_id  uuid,
                    position     integer,
                    due_at       timestamptz NOT NULL,
                    fired_at     timestamptz
                );
                CREATE INDEX durable_timers_due ON durable_timers (due_at) WHERE fired_at IS NULL;
                CREATE INDEX durable_timers_fired ON durable_timers (fired_at) WHERE fired_at IS NOT NULL;

                CREATE TABLE durable_history (
                    id           bigserial PRIMARY KEY,
                    execution_id uuid NOT NULL REFERENCES durable_executions (execution_id),
                    event_type   text NOT NULL,
                    details      text NOT NULL,
                    at           timestamptz NOT NULL
                );
                CREATE INDEX durable_history_execution ON durable_history (execution_id, id);

                -- Consumed events by eventId: a redelivered event finds its row and has no second effect.
                CREATE TABLE durable_inbox (
                    event_id    uuid PRIMARY KEY,
                    topic       text NOT NULL,
                    received_at timestamptz NOT NULL DEFAULT now()
                );

                -- Events to publish, written in the same transaction as the state they describe.
                CREATE TABLE durable_outbox (
                    id          bigserial PRIMARY KEY,
                    topic       text NOT NULL,
                    message_key text NOT NULL,
                    payload     text NOT NULL,
                    created_at  timestamptz NOT NULL DEFAULT now(),
                    sent_at     timestamptz
                );
                CREATE INDEX durable_outbox_unsent ON durable_outbox (id) WHERE sent_at IS NULL;
                """),
        PostgresMigration(
            version: 2, name: "trace context on executions and outbox rows",
            sql: """
                -- The W3C traceparent of the event that started an execution; its outbox rows carry it onwards.
                ALTER TABLE durable_executions ADD COLUMN trace_parent text;
                ALTER TABLE durable_outbox ADD COLUMN trace_parent text;
                """),
        PostgresMigration(
            version: 3, name: "pending timers by callback and by execution",
            sql: """
                -- Ending a callback or an execution retires its pending timers, found by callback or execution:
                -- without these, every decision scanned all pending timers (as many as there are waiting requests).
                CREATE INDEX durable_timers_pending_callback ON durable_timers (callback_id) WHERE fired_at IS NULL;
                CREATE INDEX durable_timers_pending_execution ON durable_timers (execution_id) WHERE fired_at IS NULL;
                """),
        PostgresMigration(
            version: 4, name: "timers that failed to fire",
            sql: """
                -- A timer whose firing failed is not consumed: it is due again after a back-off, and keeps count.
                ALTER TABLE durable_timers ADD COLUMN attempts integer NOT NULL DEFAULT 0, ADD COLUMN last_error text;
                """),
        PostgresMigration(
            version: 5, name: "the outbox relay's lease",
            sql: """
                -- One relay publishes at a time: the holder of this lease, which expires unless renewed (judged by
                -- the database's clock). The epoch grows with each new holder and fences what an old one writes.
                CREATE TABLE durable_outbox_lease (
                    id         smallint PRIMARY KEY CHECK (id = 1),
                    holder     text,
                    epoch      bigint NOT NULL DEFAULT 0,
                    expires_at timestamptz NOT NULL DEFAULT '-infinity'
                );
                INSERT INTO durable_outbox_lease (id) VALUES (1);
                """),
        PostgresMigration(
            version: 6, name: "pruning the inbox and kept completions",
            sql: """
                -- The janitor deletes inbox rows and kept completions by age, in batches.
                CREATE INDEX durable_inbox_received ON durable_inbox (received_at);
                CREATE INDEX durable_early_completions_received ON durable_early_completions (received_at);
                """),
        PostgresMigration(
            version: 7, name: "unpublished outbox rows by key",
            sql: """
                -- Intake and the callback receiver send an event through the outbox while an earlier one with the
                -- same key still waits there, so that the key's events reach the broker in order.
                CREATE INDEX durable_outbox_unsent_key ON durable_outbox (topic, message_key) WHERE sent_at IS NULL;
                """),
        PostgresMigration(
            version: 8, name: "signals",
            sql: """
                -- Typed messages to an execution by name (a decision, a cancellation), in arrival order: kept here
                -- until the execution receives them (it had not started, or was not waiting for one), then deleted
                -- (the checkpoint of the receive that took one holds it from then on).
                CREATE TABLE durable_signals (
                    id             bigserial PRIMARY KEY,
                    execution_name text NOT NULL,
                    payload        text NOT NULL,
                    received_at    timestamptz NOT NULL
                );
                CREATE INDEX durable_signals_execution ON durable_signals (execution_name, id);
                CREATE INDEX durable_signals_received ON durable_signals (received_at);
                -- Completions kept for callbacks by name were only ever made for decisions, which arrive as
                -- signals now.
                DROP TABLE durable_early_completions;
                """),
        PostgresMigration(
            version: 9, name: "message headers on outbox rows",
            sql: """
                -- Headers a message carries besides its traceparent (CloudEvents' ce_* ones, say), as a JSON object
                -- of names to text values; NULL when there are none.
                ALTER TABLE durable_outbox ADD COLUMN headers jsonb;
                """),
        PostgresMigration(
            version: 10, name: "history written a page at a time",
            sql: """
                -- What one engine call writes about one execution, as one row: its events' types, details and dates
                -- side by side, in the order written (a NULL date is the page's `at`, the transaction's now()). An
                -- invocation writes a dozen events; one row for them costs one heap tuple, two index entries and one
                -- foreign-key check instead of a dozen each. Ids come from the history's sequence, so pages follow the
                -- rows written one event at a time before them. (durable_history stays: its rows are history too.)
                -- (The sequence stays durable_history's: retiring that table one day means handing it over first,
                -- ALTER SEQUENCE durable_history_id_seq OWNED BY durable_history_pages.id.)
                CREATE TABLE durable_history_pages (
                    id           bigint PRIMARY KEY DEFAULT nextval('durable_history_id_seq'),
                    execution_id uuid NOT NULL REFERENCES durable_executions (execution_id),
                    event_types  text[] NOT NULL,
                    details      text[] NOT NULL,
                    dated        timestamptz[] NOT NULL,
                    at           timestamptz NOT NULL DEFAULT now(),
                    -- An event's type, details and date at the same place in each array; a type and details always.
                    CHECK (cardinality(event_types) > 0 AND cardinality(details) = cardinality(event_types)
                           AND cardinality(dated) = cardinality(event_types)
                           AND array_position(event_types, NULL) IS NULL AND array_position(details, NULL) IS NULL)
                );
                -- A page of a dozen events is a few kilobytes: kept in the row as it is, not compressed nor moved out
                -- of line until it would not fit in a block.
                ALTER TABLE durable_history_pages SET (toast_tuple_target = 8160);
                CREATE INDEX durable_history_pages_execution ON durable_history_pages (execution_id, id);
                -- Every history event, one per row, in the order of (seq, n): what readers and ad-hoc SQL query.
                CREATE VIEW durable_history_events AS
                    SELECT h.execution_id, h.id AS seq, 1::bigint AS n, h.event_type, h.details, h.at
                    FROM durable_history h
                    UNION ALL
                    SELECT p.execution_id, p.id, e.n, e.event_type, e.details, coalesce(e.dated, p.at)
                    FROM durable_history_pages p
                    CROSS JOIN LATERAL unnest(p.event_types, p.details, p.dated) WITH ORDINALITY AS e (event_type, details, dated, n);
                -- Roles that read the history (`greenlight migrate --grant-readers`) read it here now.
                DO $$
                DECLARE reader record;
                BEGIN
                    FOR reader IN
                        SELECT DISTINCT grantee FROM information_schema.role_table_grants
                        WHERE table_schema = current_schema() AND table_name = 'durable_history' AND privilege_type = 'SELECT'
                          AND grantee NOT IN ('PUBLIC', current_user)
                    LOOP
                        EXECUTE format('GRANT SELECT ON durable_history_events, durable_history_pages TO %I', reader.grantee);
                    END LOOP;
                END
                $$;
                """),
        PostgresMigration(
            version: 11, name: "the relay's index kept from the look-up by key",
            sql: """
                -- Intake and the callback receiver look up unpublished rows by key (durable_outbox_unsent_key) before
                -- each event they send. The relay's index of unpublished rows by id served that look-up too, filtering
                -- every entry, whenever statistics taken while it was nearly empty called it the cheaper; under load it
                -- holds thousands (rows waiting, rows sent and not yet vacuumed). Its predicate now also says id > 0,
                -- true of every row (ids start at 1): the relay's statements say it and the look-up does not, so the
                -- look-up can only go by key.
                CREATE INDEX durable_outbox_relay ON durable_outbox (id) WHERE sent_at IS NULL AND id > 0;
                DROP INDEX durable_outbox_unsent;
                """),
        PostgresMigration(
            version: 12, name: "checkpoints written a page at a time",
            sql: """
                -- What one engine call checkpoints for one execution, as one row: each operation's position, kind,
                -- name, status, result and error side by side, in the order written. An invocation checkpoints three
                -- or four operations; one row for them costs one heap tuple, two index entries and one foreign-key
                -- check instead of three or four upserts of each. A later page's entry for a position replaces an
                -- earlier one's (a receive started in one invocation and succeeded in the next).
                CREATE TABLE durable_operation_pages (
                    id             bigserial PRIMARY KEY,
                    execution_id   uuid NOT NULL REFERENCES durable_executions (execution_id),
                    positions      integer[] NOT NULL,
                    kinds          text[] NOT NULL,
                    names          text[] NOT NULL,
                    statuses       text[] NOT NULL,
                    results        text[] NOT NULL,
                    error_types    text[] NOT NULL,
                    error_messages text[] NOT NULL,
                    at             timestamptz NOT NULL,
                    -- An operation's fields at the same place in each array; a position, kind, name and status always.
                    CHECK (cardinality(positions) > 0 AND cardinality(kinds) = cardinality(positions)
                           AND cardinality(names) = cardinality(positions) AND cardinality(statuses) = cardinality(positions)
                           AND cardinality(results) = cardinality(positions)
                           AND cardinality(error_types) = cardinality(positions)
                           AND cardinality(error_messages) = cardinality(positions)
                           AND array_position(positions, NULL) IS NULL AND array_position(kinds, NULL) IS NULL
                           AND array_position(names, NULL) IS NULL
                           AND statuses <@ ARRAY['STARTED', 'SUCCEEDED', 'FAILED'])
                );
                ALTER TABLE durable_operation_pages SET (toast_tuple_target = 8160);
                CREATE INDEX durable_operation_pages_execution ON durable_operation_pages (execution_id, id);
                -- The checkpoints written a row at a time before, a page per execution and date (so each keeps its
                -- own), in date order.
                INSERT INTO durable_operation_pages
                    (execution_id, positions, kinds, names, statuses, results, error_types, error_messages, at)
                SELECT execution_id, array_agg(position ORDER BY position), array_agg(kind ORDER BY position),
                       array_agg(name ORDER BY position), array_agg(status ORDER BY position),
                       array_agg(result ORDER BY position), array_agg(error_type ORDER BY position),
                       array_agg(error_message ORDER BY position), updated_at
                FROM durable_operations GROUP BY execution_id, updated_at ORDER BY updated_at, execution_id;
                -- Roles that could read the checkpoints read the view in the table's place.
                CREATE TEMPORARY TABLE durable_operations_readers ON COMMIT DROP AS
                    SELECT DISTINCT grantee FROM information_schema.role_table_grants
                    WHERE table_schema = current_schema() AND table_name = 'durable_operations' AND privilege_type = 'SELECT'
                      AND grantee NOT IN ('PUBLIC', current_user);
                DROP TABLE durable_operations;
                -- Every checkpoint as it stands now, one per row: what ad-hoc SQL queries.
                CREATE VIEW durable_operations AS
                    SELECT DISTINCT ON (p.execution_id, o.position)
                        p.execution_id, o.position, o.kind, o.name, o.status, o.result, o.error_type, o.error_message,
                        p.at AS updated_at
                    FROM durable_operation_pages p
                    CROSS JOIN LATERAL unnest(p.positions, p.kinds, p.names, p.statuses, p.results, p.error_types,
                                              p.error_messages)
                        AS o (position, kind, name, status, result, error_type, error_message)
                    ORDER BY p.execution_id, o.position, p.id DESC;
                DO $$
                DECLARE reader record;
                BEGIN
                    FOR reader IN SELECT grantee FROM durable_operations_readers LOOP
                        EXECUTE format('GRANT SELECT ON durable_operations, durable_operation_pages TO %I', reader.grantee);
                    END LOOP;
                END
                $$;
                """),
        PostgresMigration(
            version: 13, name: "no planner statistics on what is only read back",
            sql: """
                -- Every ANALYZE (autovacuum's, and TableGrowth's while the tables are young) samples each column of
                -- the rows it reads. On the pages' arrays it counts the most common elements and their histogram, and
                -- on JSON text the most common values, detoasting each value sampled. No statement compares these
                -- columns: they are written and read back by key, so the planner never uses what that costs. After
                -- 20,000 approvals, a full ANALYZE of the 41,200 operation pages took 631 ms with their statistics and
                -- 104 ms without; of the history pages, 434 and 161 ms. The keys, statuses and dates keep theirs.
                ALTER TABLE durable_operation_pages
                    ALTER COLUMN positions SET STATISTICS 0, ALTER COLUMN kinds SET STATISTICS 0,
                    ALTER COLUMN names SET STATISTICS 0, ALTER COLUMN statuses SET STATISTICS 0,
                    ALTER COLUMN results SET STATISTICS 0, ALTER COLUMN error_types SET STATISTICS 0,
                    ALTER COLUMN error_messages SET STATISTICS 0;
                ALTER TABLE durable_history_pages
                    ALTER COLUMN event_types SET STATISTICS 0, ALTER COLUMN details SET STATISTICS 0,
                    ALTER COLUMN dated SET STATISTICS 0;
                ALTER TABLE durable_history ALTER COLUMN details SET STATISTICS 0;
                ALTER TABLE durable_executions
                    ALTER COLUMN input SET STATISTICS 0, ALTER COLUMN output SET STATISTICS 0,
                    ALTER COLUMN error_message SET STATISTICS 0;
                ALTER TABLE durable_callbacks
                    ALTER COLUMN result SET STATISTICS 0, ALTER COLUMN error_message SET STATISTICS 0;
                ALTER TABLE durable_outbox ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN headers SET STATISTICS 0;
                ALTER TABLE durable_signals ALTER COLUMN payload SET STATISTICS 0;
                """),
    ]
}
