import Foundation
import GreenlightTestSupport
import Postgres
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(1)))
struct PostgresQueryTests {
    @Test func parametersRoundTripAsTypedValuesAndAreNeverSpliced() async throws {
        let pool = try await TestDatabase.create("query").pool()
        defer { pool.close() }
        try await pool.query("CREATE TABLE notes (id uuid PRIMARY KEY, body text, amount double precision, at timestamptz, n bigint, ok boolean, raw bytea)")
        let id = UUID()
        let hostile = "x'); DROP TABLE notes; --"
        let at = Date(timeIntervalSince1970: 1_795_000_000.123456)
        let raw = Data([0, 1, 0xfe, 0xff])
        try await pool.query(
            "INSERT INTO notes VALUES (\(id), \(hostile), \(5000.25), \(at), \(Int64(1) << 40), \(true), \(raw))")
        let nothing: String? = nil
        try await pool.query("INSERT INTO notes VALUES (\(UUID()), \(nothing), \(0.0), \(at), \(0), \(false), \(Data()))")

        let row = try #require(
            try await pool.query("SELECT id, body, amount, at, n, ok, raw FROM notes WHERE id = \(id)").first)
        let (readId, body, amount, readAt, n, ok, readRaw) = try row.decode(
            (UUID, String, Double, Date, Int64, Bool, Data).self)
        #expect(readId == id)
        #expect(body == hostile)
        #expect(amount == 5000.25)
        #expect(abs(readAt.timeIntervalSince(at)) < 0.000_001)
        #expect(n == 1 << 40)
        #expect(ok)
        #expect(readRaw == raw)

        let bodies = try await pool.query("SELECT body FROM notes ORDER BY body NULLS FIRST").decode((String?).self)
        #expect(bodies == [nil, hostile])
        let count = try await pool.query("SELECT count(*) FROM notes").column(Int.self)
        #expect(count == [2])
    }

    @Test func wrongTypeIsATypedDecodingError() async throws {
        let pool = try await TestDatabase.create("decode").pool()
        defer { pool.close() }
        let rows = try await pool.query("SELECT 'not a number' AS amount, NULL::text AS missing")
        #expect(throws: PostgresError.self) { try rows.first!.decode((Int, String).self) }
        do {
            _ = try rows.first!.decode((String, String).self)
            Issue.record("NULL decoded as a non-optional String")
        } catch let error as PostgresError {
            #expect(error.code == .decodingFailed)
            #expect(error.description.contains("missing"))
        }
    }

    @Test func serverErrorsCarrySQLStateButNotValues() async throws {
        let pool = try await TestDatabase.create("errors").pool()
        defer { pool.close() }
        try await pool.query("CREATE TABLE t (id text PRIMARY KEY)")
        try await pool.query("INSERT INTO t VALUES (\("secret-value"))")
        do {
            try await pool.query("INSERT INTO t VALUES (\("secret-value"))")
            Issue.record("duplicate insert succeeded")
        } catch let error as PostgresError {
            #expect(error.code == .queryFailed)
            #expect(error.isUniqueViolation)
            #expect(!error.description.contains("secret-value"))
        }
    }

    @Test func transactionCommitsOrRollsBackWhenTheBodyThrows() async throws {
        let pool = try await TestDatabase.create("tx").pool()
        defer { pool.close() }
        try await pool.query("CREATE TABLE t (id int PRIMARY KEY)")
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await pool.transaction { connection in
                try await connection.query("INSERT INTO t VALUES (\(1))")
                throw Boom()
            }
        }
        try await pool.transaction { connection in
            try await connection.query("INSERT INTO t VALUES (\(2))")
        }
        #expect(try await pool.query("SELECT id FROM t").column(Int.self) == [2])
    }

    /// A transaction whose body caught a failed statement and went on is rolled back by the server at `COMMIT`
    /// (which answers `ROLLBACK`, with no error): the caller is told, nothing it wrote is kept, and nothing it asked to
    /// happen after the commit happens.
    @Test func aTransactionTheServerRolledBackAtCommitThrows() async throws {
        let pool = try await TestDatabase.create("failedcommit").pool(maxConnections: 1)
        defer { pool.close() }
        try await pool.query("CREATE TABLE t (id int PRIMARY KEY)")
        let counted = Mutex(0)
        await #expect(throws: PostgresError.self) {
            try await pool.transaction { connection in
                try await connection.query("INSERT INTO t VALUES (\(1))")
                connection.afterCommit { counted.withLock { $0 += 1 } }
                _ = try? await connection.query("INSERT INTO t VALUES (\(1))")
            }
        }
        #expect(try await pool.query("SELECT count(*) FROM t").column(Int.self) == [0])
        #expect(counted.withLock { $0 } == 0)
        // The same with the failure and the COMMIT in one round trip (queued), and a transaction that did not fail
        // still commits.
        await #expect(throws: PostgresError.self) {
            try await pool.transaction { connection in
                _ = try? await connection.query("SELECT 1 / \(0)")
                connection.queue("INSERT INTO t VALUES (\(2))")
            }
        }
        try await pool.transaction { connection in connection.queue("INSERT INTO t VALUES (\(3))") }
        #expect(try await pool.query("SELECT id FROM t").column(Int.self) == [3])
    }

    /// What a transaction asks to happen after its commit (a metric counted) happens once it has committed, in order,
    /// and never for a transaction that rolls back, a savepoint rolled back to, a commit that fails, or a connection lent
    /// without a transaction — not even for the next borrower of the same connection.
    @Test func workAskedForAfterTheCommitHappensOnlyOnceItCommits() async throws {
        let pool = try await TestDatabase.create("aftercommit").pool(maxConnections: 1)
        defer { pool.close() }
        try await pool.query("CREATE TABLE t (id int PRIMARY KEY)")
        let done = Mutex<[String]>([])
        func note(_ what: String) -> @Sendable () -> Void { { done.withLock { $0.append(what) } } }
        struct Boom: Error {}

        try await pool.transaction { connection in
            connection.afterCommit(note("first"))
            try await connection.query("INSERT INTO t VALUES (\(1))")
            connection.afterCommit(note("second"))
            // Nothing before the commit.
            #expect(done.withLock { $0 }.isEmpty)
        }
        #expect(done.withLock { $0 } == ["first", "second"])

        await #expect(throws: Boom.self) {
            try await pool.transaction { connection in
                connection.afterCommit(note("rolled back"))
                throw Boom()
            }
        }
        // A savepoint that rolls back drops what was asked for inside it, and only that.
        try await pool.transaction { connection in
            connection.afterCommit(note("before the savepoint"))
            await #expect(throws: Boom.self) {
                try await connection.withSavepoint("dropped") {
                    connection.afterCommit(note("inside the savepoint"))
                    throw Boom()
                }
            }
            try await connection.withSavepoint("kept") { connection.afterCommit(note("inside a released savepoint")) }
        }
        #expect(done.withLock { $0 } == ["first", "second", "before the savepoint", "inside a released savepoint"])

        // A COMMIT the server refuses (a deferred constraint checked there) runs nothing.
        try await pool.query("CREATE TABLE d (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED)")
        await #expect(throws: PostgresError.self) {
            try await pool.transaction { connection in
                try await connection.query("INSERT INTO d VALUES (\(1)), (\(1))")
                connection.afterCommit(note("refused commit"))
            }
        }
        // Lent without a transaction: dropped when the connection goes back, so the next transaction on it (the pool
        // has one) runs only its own.
        try await pool.withConnection { connection in connection.afterCommit(note("no transaction")) }
        try await pool.transaction { connection in connection.afterCommit(note("next borrower")) }
        #expect(done.withLock { $0 } == ["first", "second", "before the savepoint", "inside a released savepoint", "next borrower"])
    }

    @Test func eachStatementIsPreparedOncePerConnectionAndSurvivesRollbacks() async throws {
        let database = try await TestDatabase.create("prepared")
        let pool = try database.pool(maxConnections: 1)
        defer { pool.close() }
        try await pool.query("CREATE TABLE t (id int PRIMARY KEY)")
        // Prepared inside a transaction that rolls back: still prepared, and still usable afterwards.
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await pool.transaction { connection in
                try await connection.query("INSERT INTO t VALUES (\(1))")
                throw Boom()
            }
        }
        for id in 2...4 { try await pool.query("INSERT INTO t VALUES (\(id))") }
        // A statement the server refuses is not remembered as prepared; the connection carries on.
        await #expect(throws: PostgresError.self) { try await pool.query("INSERT INTO nowhere VALUES (\(1))") }
        try await pool.withConnection { connection in
            let statements = try await connection.query(
                "SELECT statement FROM pg_prepared_statements WHERE statement LIKE \("INSERT INTO t%")"
            ).column(String.self)
            #expect(statements == ["INSERT INTO t VALUES ($1)"])
            #expect(try await connection.preparedStatementCount >= 1)
        }
        #expect(try await pool.query("SELECT id FROM t ORDER BY id").column(Int.self) == [2, 3, 4])
    }

    @Test func queuedStatementsTravelWithTheNextOneInOrderAndInOneRoundTrip() async throws {
        let pool = try await TestDatabase.create("queued").pool(maxConnections: 1)
        defer { pool.close() }
        try await pool.query("CREATE TABLE t (id int PRIMARY KEY, after int)")
        for round in 0..<2 {
            try await pool.transaction { connection in
                let before = connection.roundTrips
                for id in 1...3 { connection.queue("INSERT INTO t VALUES (\(round * 10 + id), (SELECT count(*) FROM t))") }
                let count = try await connection.query("SELECT count(*) FROM t").column(Int.self)
                #expect(count == [round * 3 + 3])
                // Warm (statements prepared in round 0): BEGIN, three inserts and the select in one exchange.
                if round == 1 { #expect(connection.roundTrips - before == 1) }
            }
        }
        // In the order queued: each insert saw the rows before it.
        #expect(try await pool.query("SELECT after FROM t WHERE id > 10 ORDER BY id").column(Int.self) == [3, 4, 5])

        // More than one pipeline's worth, sent by the commit.
        try await pool.transaction { connection in
            for id in 100..<300 { connection.queue("INSERT INTO t VALUES (\(id), 0)") }
        }
        #expect(try await pool.query("SELECT count(*) FROM t WHERE id >= 100").column(Int.self) == [200])

        // Outside a transaction, what is queued is sent before the connection goes back to the pool.
        try await pool.withConnection { $0.queue("INSERT INTO t VALUES (\(1000), 0)") }
        #expect(try await pool.query("SELECT count(*) FROM t WHERE id = \(1000)").column(Int.self) == [1])
    }

    @Test func aFailingQueuedStatementFailsTheNextOneAndTheTransaction() async throws {
        let pool = try await TestDatabase.create("queuedfail").pool(maxConnections: 1)
        defer { pool.close() }
        try await pool.query("CREATE TABLE t (id int PRIMARY KEY)")
        // Not inside #expect(throws:): a macro's closure would give the calls in it the macro's own line.
        var error: PostgresError?
        do {
            try await pool.transaction { connection in
                connection.queue("INSERT INTO t VALUES (\(1))")
                connection.queue("INSERT INTO missing VALUES (\(1))")
                connection.queue("INSERT INTO t VALUES (\(2))")
                _ = try await connection.query("SELECT count(*) FROM t")
                Issue.record("the select must not run after a failed queued statement")
            }
        } catch let thrown as PostgresError {
            error = thrown
        }
        #expect(error?.sqlState == "42P01")
        #expect(error?.description.contains("missing") == true)
        // The error names the call that queued the statement, not the await it surfaced at.
        let origin = try #require(error?.queuedAt?.split(separator: ":"), "\(String(describing: error))")
        #expect(origin.first?.hasSuffix("PostgresQueryTests.swift") == true)
        let source = try String(contentsOfFile: #filePath, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(source[Int(origin.last!)! - 1].contains("INSERT INTO missing"))
        #expect(error?.description.contains("queued at") == true)
        #expect(try await pool.query("SELECT count(*) FROM t").column(Int.self) == [0])

        // A transaction that fails before anything reached the server sends nothing at all; the connection is fine.
        struct Early: Error {}
        let trips = try await pool.withConnection { $0.roundTrips }
        await #expect(throws: Early.self) {
            try await pool.transaction { connection in
                connection.queue("INSERT INTO t VALUES (\(3))")
                throw Early()
            }
        }
        #expect(try await pool.withConnection { $0.roundTrips } == trips)
        #expect(try await pool.query("SELECT count(*) FROM t").column(Int.self) == [0])
    }

    /// A connection lent by the pool runs its borrower on the connection's own queue, so every statement is sent from
    /// where the borrower runs, with no hop to the queue and back; a caller that holds a connection itself hops once a
    /// round trip.
    @Test func aBorrowerRunsWhereItsStatementsAreSentWithoutAHopEach() async throws {
        let pool = try await TestDatabase.create("executor").pool(maxConnections: 2)
        defer { pool.close() }
        try await pool.query("CREATE TABLE t (n int)")
        let (hopsBefore, hopsAfter) = try await pool.transaction { connection in
            let before = connection.hops
            for n in 0..<5 {
                try await connection.query("INSERT INTO t VALUES (\(n))")
                connection.queue("INSERT INTO t VALUES (\(n + 100))")
            }
            _ = try await connection.query(["SELECT count(*) FROM t", "SELECT 1"])
            try await connection.flush()
            return (before, connection.hops)
        }
        #expect(hopsAfter == hopsBefore)
        #expect(try await pool.query("SELECT count(*) FROM t").column(Int.self) == [10])

        let own = try await PostgresConnection.connect(try PostgresConfiguration(url: try await TestDatabase.create("executor-own").url))
        let ownBefore = own.hops
        for _ in 0..<3 { try await own.query("SELECT 1") }
        #expect(own.hops == ownBefore + 3)
    }

    /// Cancelling the task that awaits a statement stops the statement on the server (it does not run on for its 30
    /// seconds), the caller sees `CancellationError`, and the connection serves the next caller.
    @Test func cancellingTheCallerCancelsItsStatementOnTheServer() async throws {
        let pool = try await TestDatabase.create("cancel").pool(maxConnections: 1)
        defer { pool.close() }
        let started = ContinuousClock.now
        let sleeper = Task { try await pool.query("SELECT pg_sleep(30)") }
        try await waitUntil(timeout: .seconds(10)) {
            try await TestDatabase.activeStatements(like: "SELECT pg_sleep(30)") == 1
        }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(try await pool.query("SELECT 1").column(Int.self) == [1])
        #expect(try await TestDatabase.activeStatements(like: "SELECT pg_sleep(30)") == 0)
    }

    /// A statement's first use on a connection is two exchanges, preparing and then executing it. A cancel that
    /// reaches the server between them finds the backend idle, and the server drops it; the caller's cancel must still
    /// stop the statement once it runs. The relay holds the execution on its way until the first cancel is answered.
    @Test func aCancelThatFindsTheServerBetweenTwoExchangesIsSentAgain() async throws {
        let database = try await TestDatabase.create("cancel_gap")
        let relay = try HoldingRelay(to: database.url)
        defer { relay.stop() }
        let pool = PostgresPool(
            configuration: try PostgresConfiguration(url: relay.url(for: database.url)), maxConnections: 1,
            logger: TestEnvironment.logger("cancel-gap"))
        defer { pool.close() }
        #expect(try await pool.query("SELECT 1").column(Int.self) == [1])
        relay.holdNextBind()
        let started = ContinuousClock.now
        // A text of its own: the test above sleeps at the same time, and the server's activity is counted by text.
        let sleeper = Task { try await pool.query("SELECT pg_sleep(30) AS held_back") }
        try await waitUntil(timeout: .seconds(10)) { relay.isHolding }
        sleeper.cancel()
        try await waitUntil(timeout: .seconds(10)) { relay.cancelsAnswered >= 1 }
        relay.release()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(relay.cancelsAnswered >= 2)
        #expect(try await pool.query("SELECT 1").column(Int.self) == [1])
        #expect(try await TestDatabase.activeStatements(like: "SELECT pg_sleep(30) AS held_back") == 0)
    }

    @Test func aNulInATextParameterIsRefusedNotTruncated() async throws {
        let pool = try await TestDatabase.create("nul").pool(maxConnections: 1)
        defer { pool.close() }
        try await pool.query("CREATE TABLE t (body text)")
        let long = String(repeating: "é", count: 5_000)
        // Wherever the NUL stands, in a short or a long parameter.
        for text in ["a\u{0}b", "\u{0}" + long, long + "\u{0}", String(("x" + long + "\u{0}").dropFirst())] {
            let error = await #expect(throws: PostgresError.self) { try await pool.query("INSERT INTO t VALUES (\(text))") }
            #expect(error?.sqlState == "22021")
        }
        #expect(try await pool.query("SELECT count(*) FROM t").column(Int.self) == [0])
        try await pool.query("INSERT INTO t VALUES (\(long))")
        #expect(try await pool.query("SELECT count(*) FROM t").column(Int.self) == [1])
    }

    @Test func poolNeverOpensMoreThanItsLimit() async throws {
        let database = try await TestDatabase.create("bounded")
        let application = "bounded_\(UInt32.random(in: 0...UInt32.max))"
        let pool = try PostgresPool(
            configuration: PostgresConfiguration(url: database.url(applicationName: application)), maxConnections: 2,
            logger: TestEnvironment.logger("pool"))
        defer { pool.close() }
        let seen = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await pool.query(
                        "SELECT count(*) FROM pg_stat_activity, pg_sleep(0.1) WHERE application_name = \(application)"
                    ).column(Int.self)[0]
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(seen.count == 8)
        #expect(seen.max() == 2)
    }
}
