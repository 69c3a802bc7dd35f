import Foundation
import GreenlightModels
import Kafka
import Logging
import Postgres
import Synchronization

/// Publishes outbox rows, oldest first, with the idempotent producer, and deletes them once the broker has
/// acknowledged them (the broker holds them from then on; a row marked sent and kept would cost a second version of
/// it, its index entries and its WAL, then a deletion later). A crash in between publishes them again (consumers
/// dedupe on `eventId`).
///
/// One relay publishes at a time, across every orchestrator: the holder of a lease (a row of
/// `durable_outbox_lease` with a holder, an epoch and an expiry judged by the database's clock), which it renews
/// once a third of its length has passed since it last asked (not on every pass: a pass follows each commit), also
/// while it waits for the broker. No database transaction stays open across that wait. When
/// the holder stops — crashed, paused, cut off — its lease expires and another relay takes over within
/// `lease` + `standbyInterval`; every row the holder deletes is fenced on its epoch, so one that comes back late
/// deletes nothing and stands by. Per key, what consumers see first is in outbox order: the producer keeps order per
/// partition and retries a message until the broker takes it (`message.timeout.ms` 0), and a late holder only
/// repeats rows that the new holder also publishes, each of them oldest first.
public struct OutboxRelay: Sendable {
    let pool: PostgresPool
    let producer: KafkaProducer
    let wakeUp: WakeUpSignal
    let pollInterval: Duration
    let logger: Logger
    let batchSize: Int
    /// How long the lease lasts unless renewed.
    let lease: Duration
    /// How often a relay without the lease checks whether it expired.
    let standbyInterval: Duration
    /// This relay's name in the lease (host and process, for operators).
    let holder: String
    /// How many rows the relay deletes before it vacuums the outbox itself (nil: it leaves that to autovacuum).
    let vacuumAfter: Int?
    var leaseMilliseconds: Int { Int(lease.components.seconds * 1000 + lease.components.attoseconds / 1_000_000_000_000_000) }

    public init(
        pool: PostgresPool, producer: KafkaProducer, wakeUp: WakeUpSignal, pollInterval: Duration, logger: Logger,
        batchSize: Int = 500, lease: Duration = .seconds(5), standbyInterval: Duration = .seconds(1),
        holder: String = OutboxRelay.defaultHolder(), vacuumAfter: Int? = 5_000
    ) {
        self.pool = pool
        self.producer = producer
        self.wakeUp = wakeUp
        self.pollInterval = pollInterval
        self.logger = logger
        self.batchSize = batchSize
        self.lease = lease
        self.standbyInterval = standbyInterval
        self.holder = holder
        self.vacuumAfter = vacuumAfter
    }

    /// `host/pid/random`: unique per process, readable in `durable_outbox_lease`.
    public static func defaultHolder() -> String {
        "\(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)/\(UUID().uuidString.prefix(8))"
    }

    /// The producer properties a relay needs: a message is retried until the broker takes it, so that a later
    /// message of the same key can never be delivered ahead of one that gave up.
    public static let producerProperties = ["message.timeout.ms": "0"]

    public func run() async throws {
        var lastPrune = ContinuousClock.now
        // Nil while another relay holds the lease.
        var held: HeldLease?
        var floor = ReadFloor()
        var deletedSinceVacuum = 0
        while !Task.isCancelled {
            var published = 0
            do {
                var lease: HeldLease
                if let held, held.isFresh(self.lease) {
                    lease = held
                } else {
                    let askedAt = ContinuousClock.now
                    guard let taken = try await acquire() else {
                        if held != nil { logger.notice("Outbox lease lost; standing by", metadata: ["holder": "\(holder)"]) }
                        held = nil
                        try await Task.sleep(for: standbyInterval)
                        continue
                    }
                    if held == nil { logger.info("Outbox lease taken; publishing", metadata: ["holder": "\(holder)", "epoch": "\(taken)"]) }
                    lease = HeldLease(epoch: taken, askedAt: askedAt)
                }
                held = lease
                guard let deleted = try await publishBatch(under: &lease, floor: &floor) else {
                    // Fenced out (and logged): the next pass asks again, and stands by while the other relay holds it.
                    held = nil
                    floor.restart()
                    continue
                }
                held = lease
                published = deleted
                deletedSinceVacuum += deleted
                if let vacuumAfter, deletedSinceVacuum >= vacuumAfter {
                    deletedSinceVacuum = 0
                    await vacuum()
                }
                if ContinuousClock.now - lastPrune > .seconds(60) {
                    lastPrune = ContinuousClock.now
                    // Rows marked sent rather than deleted: by a relay of an earlier version, during a rolling upgrade.
                    try await pool.query("DELETE FROM durable_outbox WHERE sent_at < now() - interval '1 hour'")
                }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("Publishing the outbox failed; retrying", metadata: ["error": "\(error)"])
                // Not sooner than a third of the lease: a database that is down fails every attempt at once.
                try? await Task.sleep(for: held == nil ? pollInterval : min(pollInterval, lease / 3))
                continue
            }
            if published < batchSize { await wakeUp.wait(timeout: pause(holding: held)) }
        }
    }

    /// Vacuums the outbox. What the relay deletes stays in the table and its indexes until a vacuum, and the relay's
    /// read slows down over it: 4.3 ms a read with 34,000 such rows in the benchmark, 0.037 ms after a vacuum
    /// (`bench/README.md`, "The outbox vacuumed by its relay"). Autovacuum looks at a table at most once a minute
    /// (`autovacuum_naptime`), in which a busy relay deletes that many, so the relay vacuums after every `vacuumAfter`
    /// rows it deleted: skipped when another vacuum holds the table (`SKIP_LOCKED`), and without giving back the empty
    /// pages at the table's end (`TRUNCATE false`, which would lock writers out for a moment). A role that does not own
    /// the table is refused with a warning (libpq prints it on standard error) and nothing happens; a failure is
    /// logged, and publishing goes on.
    func vacuum() async {
        do {
            try await pool.withConnection { connection in try await connection.execute(script: Self.vacuumStatement) }
        } catch is CancellationError {
            return
        } catch {
            logger.warning(
                "Vacuuming the outbox failed; autovacuum will do it later",
                metadata: ["error": "\(error)", "statement": "\(Self.vacuumStatement)"])
        }
    }

    static let vacuumStatement = "VACUUM (SKIP_LOCKED, TRUNCATE false) durable_outbox"

    /// The lease a relay holds, and when it last asked for it (before the request left, by this process's monotonic
    /// clock): the database's expiry is at least a lease's length after that instant, whatever either clock says.
    struct HeldLease: Sendable {
        var epoch: Int64
        var askedAt: ContinuousClock.Instant

        /// Whether the relay may still publish under it without asking: for the first third of its length, which
        /// leaves two thirds in hand for a pass that runs long.
        func isFresh(_ lease: Duration) -> Bool { ContinuousClock.now < askedAt + lease / 3 }
    }

    /// How long to wait before the next pass: the poll interval, but a holder no longer than until it must ask
    /// again, so that it keeps the lease however long the interval (GREENLIGHT_POLL_INTERVAL_MS goes up to a minute).
    func pause(holding held: HeldLease?) -> Duration {
        guard let held else { return pollInterval }
        return max(.zero, min(pollInterval, held.askedAt + lease / 3 - ContinuousClock.now))
    }

    /// Takes the lease if it is free or expired, or renews it if this relay holds it; returns its epoch, or nil
    /// while another relay holds it.
    func acquire() async throws -> Int64? {
        try await pool.query(
            """
            UPDATE durable_outbox_lease
            SET epoch = CASE WHEN holder = \(holder) THEN epoch ELSE epoch + 1 END, holder = \(holder),
                expires_at = now() + \(leaseMilliseconds) * interval '1 millisecond'
            WHERE id = 1 AND (holder = \(holder) OR expires_at < now())
            RETURNING epoch
            """
        ).column(Int64.self).first
    }

    /// The oldest `limit` rows waiting to be published above `after`, oldest first (`id > 0`, true of every row,
    /// selects the relay's index, `durable_outbox_relay`, in which the read starts at `after`).
    static func batchQuery(limit: Int, after: Int64 = 0) -> PostgresQuery {
        """
        SELECT id, topic, message_key, payload, trace_parent, headers::text FROM durable_outbox
        WHERE sent_at IS NULL AND id > 0 AND id > \(after) ORDER BY id LIMIT \(limit)
        """
    }

    /// What `ReadFloor` learns before each read: the last row number handed out (0 before the first), the oldest
    /// transaction still running and the first not yet started.
    static let numberingQuery: PostgresQuery = """
        SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END,
               pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint
        FROM durable_outbox_id_seq q, pg_current_snapshot() s
        """

    /// Where a read of the outbox starts, so that it does not step again over the rows already published: their
    /// index entries stay until vacuum, and after a burst a read from the start walks tens of thousands of them (4.7 ms
    /// a read in the benchmark's timers run, the costliest statement there). A row is numbered when it is inserted
    /// and seen when its transaction commits, so a read can see a row before a lower-numbered one that is still
    /// being written: the floor only rises to numbers whose transactions have all ended. That is learned from the
    /// database: the last number handed out, noted with the time; `settleTime` later, the first transaction id not yet
    /// started (any transaction that took one of those numbers has its id by then: it takes it as it writes the row);
    /// once the oldest transaction still running is past that id, every row numbered up to the note is committed or
    /// gone. Every `fullReadInterval` a read starts from the beginning all the same.
    struct ReadFloor: Sendable {
        /// No row numbered at or below it waits to be published or is still being written.
        private(set) var floor: Int64 = 0
        /// Rows numbered at or below it are committed or gone (some may still wait).
        private(set) var settled: Int64 = 0
        private var notes: [Note] = []
        private var lastFullRead: ContinuousClock.Instant?
        let settleTime: Duration
        let fullReadInterval: Duration

        init(settleTime: Duration = .seconds(1), fullReadInterval: Duration = .seconds(10)) {
            self.settleTime = settleTime
            self.fullReadInterval = fullReadInterval
        }

        struct Note: Sendable {
            var lastNumber: Int64
            var takenAt: ContinuousClock.Instant
            /// The first transaction id not yet started, `settleTime` after `takenAt`.
            var nextTransaction: Int64?
        }

        /// Where the next read starts: the floor, or the beginning once every `fullReadInterval`.
        mutating func start(at now: ContinuousClock.Instant = .now) -> Int64 {
            if let lastFullRead, now - lastFullRead < fullReadInterval { return floor }
            lastFullRead = now
            return 0
        }

        /// The database's numbering just before a read (`numberingQuery`).
        mutating func observe(lastNumber: Int64, oldestRunning: Int64, nextTransaction: Int64, at now: ContinuousClock.Instant = .now) {
            for index in notes.indices where notes[index].nextTransaction == nil && now - notes[index].takenAt >= settleTime {
                notes[index].nextTransaction = nextTransaction
            }
            while let first = notes.first, let next = first.nextTransaction, oldestRunning >= next {
                settled = max(settled, first.lastNumber)
                notes.removeFirst()
            }
            if notes.last.map({ now - $0.takenAt >= settleTime / 4 }) ?? true {
                notes.append(Note(lastNumber: lastNumber, takenAt: now))
            }
            // A transaction left open for hours holds every note back; any one note, once its transactions have
            // ended, settles everything below it, so the oldest can go.
            if notes.count > Self.maxNotes { notes.removeFirst(notes.count - Self.maxNotes) }
        }

        static let maxNotes = 64
        var noteCount: Int { notes.count }

        /// After a read of at most `limit` rows that returned `ids` (in order), each published except from
        /// `firstFailed` on: every row it did not return below its last was published before or is still being
        /// written, and those up to `settled` are not.
        mutating func published(ids: [Int64], limit: Int, firstFailed: Int64?) {
            var bound = ids.count < limit ? settled : min(settled, ids.last ?? 0)
            if let firstFailed { bound = min(bound, firstFailed - 1) }
            floor = max(floor, bound)
        }

        /// Another relay held the lease meanwhile: the next read starts from the beginning.
        mutating func restart() {
            floor = 0
            lastFullRead = nil
        }
    }

    /// Renews a lease held at `epoch`; false when it was lost.
    func renew(epoch: Int64) async throws -> Bool {
        try await pool.query(
            """
            UPDATE durable_outbox_lease SET expires_at = now() + \(leaseMilliseconds) * interval '1 millisecond'
            WHERE id = 1 AND holder = \(holder) AND epoch = \(epoch)
            """
        ).affectedRows == 1
    }

    /// Publishes one batch under the lease of `epoch`, just asked for, and deletes what the broker acknowledged;
    /// returns how many, or nil when the lease had passed to another relay, which publishes the same rows again (this
    /// one deletes none).
    public func publishBatch(epoch: Int64) async throws -> Int? {
        var lease = HeldLease(epoch: epoch, askedAt: .now)
        var floor = ReadFloor()
        return try await publishBatch(under: &lease, floor: &floor)
    }

    /// `publishBatch(epoch:)` under a lease asked for at `lease.askedAt`, which it moves on when it asks again, reading
    /// from `floor`, which it raises past what it published.
    func publishBatch(under lease: inout HeldLease, floor: inout ReadFloor) async throws -> Int? {
        let epoch = lease.epoch
        let start = floor.start()
        let (numbering, read) = try await pool.withConnection { connection in
            let results = try await connection.query([Self.numberingQuery, Self.batchQuery(limit: batchSize, after: start)])
            return (try results[0].decode((Int64, Int64, Int64).self).first, results[1])
        }
        if let numbering {
            floor.observe(lastNumber: numbering.0, oldestRunning: numbering.1, nextTransaction: numbering.2)
        }
        let rows = try read.decode((Int64, String, String, String, String?, String?).self)
        guard !rows.isEmpty else {
            floor.published(ids: [], limit: batchSize, firstFailed: nil)
            return 0
        }
        // The read may have taken the lease past its first third: ask before sending, not after.
        if !lease.isFresh(self.lease) {
            let askedAt = ContinuousClock.now
            guard try await renew(epoch: epoch) else {
                logger.notice("Outbox lease lost before publishing; standing by", metadata: ["holder": "\(holder)"])
                return nil
            }
            lease.askedAt = askedAt
        }
        let results = try await renewingWhile(&lease) {
            await producer.send(
                batch: rows.map { row in
                    KafkaOutgoingMessage(
                        topic: row.1, key: row.2, value: Array(row.3.utf8),
                        headers: Outbox.kafkaHeaders(traceparent: row.4, headers: row.5))
                })
        }
        var sent: [String] = []
        var firstFailed: Int64?
        for (row, result) in zip(rows, results) {
            switch result {
            case .success: sent.append(String(row.0))
            case .failure(let error):
                firstFailed = firstFailed ?? row.0
                // Stopping: the broker did not take it yet, and the next holder publishes it.
                if Task.isCancelled { continue }
                logger.warning(
                    "Outbox row not published; it will be retried",
                    metadata: ["outboxId": "\(row.0)", "topic": "\(row.1)", "error": "\(error)"])
            }
        }
        var deleted = 0
        do {
            try Task.checkCancellation()
            if !sent.isEmpty { deleted = try await deletePublished(sent, epoch: epoch) }
        } catch is CancellationError {
            // Stopped (the service is shutting down), while waiting for the broker or deleting: what the broker took is
            // deleted all the same, else the next holder would publish it again; what it did not take stays in the
            // outbox for the next holder.
            await deleteWhileStopping(sent, epoch: epoch)
            throw CancellationError()
        }
        if !sent.isEmpty, deleted == 0 {
            logger.notice("Outbox lease lost while publishing; another relay publishes these rows again", metadata: ["holder": "\(holder)"])
            return nil
        }
        floor.published(ids: rows.map(\.0), limit: batchSize, firstFailed: firstFailed)
        return deleted
    }

    /// Deletes the rows `ids`, which the broker acknowledged; fenced: a relay whose lease has passed to another
    /// deletes nothing (the other publishes these rows again). Returns how many it deleted.
    func deletePublished(_ ids: [String], epoch: Int64) async throws -> Int {
        try await pool.query(
            """
            DELETE FROM durable_outbox
            WHERE id = ANY(\(ids)::bigint[])
              AND EXISTS (SELECT 1 FROM durable_outbox_lease WHERE id = 1 AND holder = \(holder) AND epoch = \(epoch))
            """
        ).affectedRows
    }

    /// `deletePublished` for a relay that is stopping: the pool refuses a statement from a cancelled task, so it runs
    /// in a task of its own, which the stop does not cancel. The relay waits for it a lease's length at most, then
    /// goes on stopping and leaves it behind (cancelled): a database that does not answer cannot hold the shutdown
    /// longer. Rows it does not delete are published again by the next holder, and consumers drop the copies by event
    /// id.
    func deleteWhileStopping(_ ids: [String], epoch: Int64) async {
        guard !ids.isEmpty else { return }
        // Resumed once: by the deletion's end or by the time limit, whichever comes first (a continuation, unlike an
        // async sequence, does not end early because the waiting task is cancelled).
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Int, any Error>?, Never>) in
            let waiting = Mutex<CheckedContinuation<Result<Int, any Error>?, Never>?>(continuation)
            let resume: @Sendable (Result<Int, any Error>?) -> Void = { outcome in
                let continuation = waiting.withLock { waiting in
                    defer { waiting = nil }
                    return waiting
                }
                continuation?.resume(returning: outcome)
            }
            let deleting = Task {
                do { resume(.success(try await deletePublished(ids, epoch: epoch))) } catch { resume(.failure(error)) }
            }
            Task {
                try? await Task.sleep(for: lease)
                resume(nil)
                deleting.cancel()
            }
        }
        switch outcome {
        case .success(let deleted):
            logger.info(
                "Outbox relay stopping: deleted the rows the broker took; the rest wait for the next holder",
                metadata: ["holder": "\(holder)", "deleted": "\(deleted)", "acknowledged": "\(ids.count)"])
        case .failure(let error):
            logger.notice(
                "Outbox relay stopping: could not delete the rows the broker took; the next holder publishes them again",
                metadata: ["holder": "\(holder)", "rows": "\(ids.count)", "error": "\(error)"])
        case nil:
            logger.notice(
                "Outbox relay stopping: the database did not delete the rows the broker took within the lease; the next holder publishes them again",
                metadata: ["holder": "\(holder)", "rows": "\(ids.count)", "lease": "\(lease)"])
        }
    }

    /// Runs `body` while asking for the lease again each time a third of it has passed since it was last asked
    /// for, so that a slow broker does not cost it.
    private func renewingWhile<T: Sendable>(_ lease: inout HeldLease, _ body: @escaping @Sendable () async -> T) async throws -> T {
        let epoch = lease.epoch
        let third = self.lease / 3
        // Each renewal is a child task of its own that says when it asked (nil: stop asking, because the lease was
        // lost, the database failed or the caller stopped). `body`'s result, which says what the broker took, is
        // waited for all the same: the deletion that follows is fenced on the epoch, so a lease that lapsed meanwhile
        // and passed to another relay deletes nothing.
        let renewal: @Sendable (ContinuousClock.Instant) -> @Sendable () async throws -> Step<T> = { askedAt in
            {
                guard (try? await Task.sleep(until: askedAt + third, clock: .continuous)) != nil else { return .renewed(nil) }
                let asking = ContinuousClock.now
                do {
                    return .renewed(try await renew(epoch: epoch) ? asking : nil)
                } catch is CancellationError {
                    return .renewed(nil)
                } catch {
                    logger.warning(
                        "Renewing the outbox lease failed while waiting for the broker; no longer renewing it for this batch",
                        metadata: ["holder": "\(holder)", "error": "\(error)"])
                    return .renewed(nil)
                }
            }
        }
        var askedAt = lease.askedAt
        let value = try await withThrowingTaskGroup(of: Step<T>.self) { group in
            group.addTask { .done(await body()) }
            group.addTask(operation: renewal(askedAt))
            while let next = try await group.next() {
                switch next {
                case .done(let value):
                    group.cancelAll()
                    return value
                case .renewed(let at?):
                    askedAt = at
                    group.addTask(operation: renewal(at))
                case .renewed(nil):
                    continue
                }
            }
            throw CancellationError()
        }
        lease.askedAt = askedAt
        return value
    }

    private enum Step<T: Sendable>: Sendable {
        case done(T)
        case renewed(ContinuousClock.Instant?)
    }

    /// How long the oldest row waiting to be published has waited (by the database's clock); zero when none is.
    public static func backlogAge(on pool: PostgresPool) async throws -> TimeInterval {
        try await pool.query(
            """
            SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM (
                SELECT created_at FROM durable_outbox WHERE sent_at IS NULL AND id > 0 ORDER BY id LIMIT 1) oldest
            """
        ).column(Double.self).first ?? 0
    }
}
