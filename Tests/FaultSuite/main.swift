import Foundation
import GreenlightTestSupport
import Logging

// The fault suite: the real stack as processes (Postgres, the Kafka-protocol broker, an SMTP server, the four
// services), a load driven through the public interfaces, one fault at a time, and the invariant checker after
// each. Run by scripts/faults (reduced, as CI runs it) and scripts/faults --full; prints one row per fault and
// exits 1 when any invariant fails.

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}
let logger = Logger(label: "greenlight-faults")

var arguments = Array(CommandLine.arguments.dropFirst())
var scale = Scale.reduced
var faults = Fault.allCases
var jsonPath: String?
while let argument = arguments.first {
    arguments.removeFirst()
    switch argument {
    case "--full": scale = .full
    case "--faults":
        let names = (arguments.first ?? "").split(separator: ",").map(String.init)
        arguments = Array(arguments.dropFirst())
        faults = names.compactMap(Fault.init(rawValue:))
        guard faults.count == names.count, !faults.isEmpty else {
            FileHandle.standardError.write(Data("unknown fault in \(names); known: \(Fault.allCases.map(\.rawValue))\n".utf8))
            exit(64)
        }
    case "--requests":
        guard let count = Int(arguments.first ?? ""), count > 0 else { exit(64) }
        arguments = Array(arguments.dropFirst())
        scale.requests = count
    case "--json":
        jsonPath = arguments.first
        arguments = Array(arguments.dropFirst())
    default:
        FileHandle.standardError.write(Data("usage: greenlight-faults [--full] [--faults a,b] [--requests N] [--json FILE]\n".utf8))
        exit(64)
    }
}

func required(_ name: String) -> String {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
        FileHandle.standardError.write(Data("\(name) is not set: run the fault suite with scripts/faults\n".utf8))
        exit(78)
    }
    return value
}
let environment = FaultEnvironment(
    postgresStop: required("GREENLIGHT_FAULT_PG_STOP"), postgresStart: required("GREENLIGHT_FAULT_PG_START"),
    fastClock: try await SkewedClock.environment(seconds: 300))
_ = required("GREENLIGHT_TEST_DATABASE_URL")

var rows: [FaultRow] = []
let started = ContinuousClock.now
for fault in faults {
    print("fault \(fault.rawValue): \(fault.summary) …")
    do {
        let row = try await FaultRun(fault: fault, scale: scale, environment: environment, logger: logger).run()
        print(row.line)
        rows.append(row)
    } catch {
        print("fault \(fault.rawValue): could not be run: \(error)")
        rows.append(FaultRow(fault: fault, failure: "\(error)"))
    }
}
print("")
print(FaultRow.table(rows))
print("fault suite: \(rows.count) faults in \(Int((ContinuousClock.now - started).components.seconds)) s, "
    + "\(rows.reduce(0) { $0 + $1.requests }) requests, \(rows.reduce(0) { $0 + $1.violations }) invariant violations")
if let jsonPath {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(rows).write(to: URL(fileURLWithPath: jsonPath))
}
exit(rows.allSatisfy { $0.passed } ? 0 : 1)
