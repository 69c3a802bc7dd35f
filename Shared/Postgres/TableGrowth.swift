import Logging
import Synchronization

/// Keeps the planner's statistics of tables that fill fast while they are young. Autovacuum analyzes a table at
/// most once a minute, and a table a new deployment fills in seconds is meanwhile planned as the nearly empty table it
/// was: a statement prepared then keeps its plan — a scan of every row, or of a small partial index, where one row
/// is looked up by its key — until the next ANALYZE replaces it. In a 3,000-approval benchmark such plans took a
/// third of PostgreSQL's time (the notifier's claim) and then a sixth (an approval's lookups by request id, which
/// scanned every pending request).
///
/// The tables are analyzed once the rows inserted (or events that insert them, a proxy for growth) reach `first`, then
/// each time those counted since the last ANALYZE are at least as many as all counted before it: a logarithmic
/// number of ANALYZEs, after which autovacuum's proportional rule keeps up. Each samples a tenth of the rows a full
/// ANALYZE would (`statisticsTarget`), enough to plan a lookup by key while autovacuum's own, full ANALYZE is still to
/// come, and under load cheaper by more than half. They run apart from what counts the rows (`count` only says one is
/// due; `renewWhenDue`, a task of the service's own, does it): under load the ANALYZEs of an orchestrator's tables
/// took 0.3–0.7 s one after the other, and the consumer's lane that ran them held its next events that long.
public final class TableGrowth: Sendable {
    /// The tables analyzed, one after the other.
    public let tables: [String]
    /// How many are counted before the first ANALYZE.
    public let first: Int
    /// The statistics target of these ANALYZEs (`default_statistics_target`, for this ANALYZE only): the rows sampled
    /// are 300 times it, the most common values and histogram bounds kept at most it.
    public let statisticsTarget: Int
    private let counts = Mutex((sinceAnalyze: 0, atAnalyze: 0))
    /// Holds one ANALYZE due, for `renewWhenDue`: several due before it gets to them are one.
    private let due: AsyncStream<Void>
    private let dueInput: AsyncStream<Void>.Continuation

    public init(tables: [String], first: Int = 200, statisticsTarget: Int = 10) {
        self.tables = tables
        self.first = first
        self.statisticsTarget = statisticsTarget
        (due, dueInput) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Counts `count` inserted rows (or events); true when the tables should be analyzed now.
    public func inserted(_ count: Int) -> Bool {
        counts.withLock { counts in
            counts.sinceAnalyze += count
            guard counts.sinceAnalyze >= max(first, counts.atAnalyze) else { return false }
            counts.atAnalyze += counts.sinceAnalyze
            counts.sinceAnalyze = 0
            return true
        }
    }

    /// Counts `count` inserted rows (or events) and, when the tables should be analyzed, tells `renewWhenDue`; never
    /// waits.
    public func count(_ count: Int) {
        if inserted(count) { dueInput.yield() }
    }

    /// Analyzes the tables on a connection of `pool` each time `count` has found that due, until cancelled (a service's
    /// task: one per `TableGrowth`). A failure is logged, not thrown: autovacuum renews the statistics in the end.
    public func renewWhenDue(on pool: PostgresPool, logger: Logger) async {
        for await _ in due {
            do {
                try await pool.withConnection { await analyze(on: $0, logger: logger) }
            } catch is CancellationError {
                return
            } catch {
                logFailure(error, logger: logger)
            }
        }
    }

    /// Analyzes the tables, skipping any whose lock it cannot have at once (an autovacuum at work on it, which
    /// renews its statistics anyway; one preventing wraparound would not give way): an ANALYZE never waits for one.
    /// Not the caller's failure if it fails: that is logged.
    /// On a connection outside a transaction: each table's script is one transaction of its own, so that its lower
    /// statistics target ends with it and each table's lock is let go as soon as that table is done (one script for
    /// all of them would hold every lock to the end).
    public func analyze(on connection: PostgresConnection, logger: Logger) async {
        do {
            for table in tables {
                try await connection.execute(
                    script: "SET LOCAL default_statistics_target = \(statisticsTarget); ANALYZE (SKIP_LOCKED) \(table)")
            }
        } catch is CancellationError {
            // The caller is stopping: the tables left wait for the next time, or for autovacuum.
        } catch {
            logFailure(error, logger: logger)
        }
    }

    private func logFailure(_ error: any Error, logger: Logger) {
        logger.warning(
            "Renewing the planner's statistics failed; autovacuum will", metadata: ["tables": "\(tables)", "error": "\(error)"])
    }
}
