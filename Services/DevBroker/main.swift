import Foundation
import GreenlightModels
import Kafka
import Logging

// The embedded broker for local runs: starts librdkafka's mock cluster, creates Greenlight's topics, prints the
// bootstrap address (`GREENLIGHT_KAFKA_BROKERS=...`) and keeps running until interrupted.
LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
let environment = ProcessInfo.processInfo.environment
let partitions = Int(environment["GREENLIGHT_KAFKA_PARTITIONS"] ?? "6") ?? 6
let cluster = try KafkaMockCluster(brokers: 1)
for topic in Topic.allCases {
    try cluster.createTopic(topic.rawValue, partitions: partitions)
}
FileHandle.standardOutput.write(Data("GREENLIGHT_KAFKA_BROKERS=\(cluster.bootstrapServers)\n".utf8))
signal(SIGINT, SIG_IGN)
signal(SIGTERM, SIG_IGN)
let signals = [SIGINT, SIGTERM].map { signalNumber in
    let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .main)
    source.setEventHandler { exit(0) }
    source.resume()
    return source
}
withExtendedLifetime((cluster, signals)) { dispatchMain() }
