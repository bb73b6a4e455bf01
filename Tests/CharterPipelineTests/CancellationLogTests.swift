import CharterDomain
import CharterPipeline
import CharterSQLite
import CharterStore
import CharterTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// Every message a logger was given, with its level and metadata, for tests to read.
final class CapturedLogs: Sendable {
    struct Record: Sendable, CustomStringConvertible {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]

        var description: String { "\(level) \(message) \(metadata)" }
    }

    private let records = Mutex<[Record]>([])

    var all: [Record] { records.withLock { $0 } }

    func logger(_ label: String = "test") -> Logger {
        Logger(label: label) { _ in Handler(sink: self) }
    }

    fileprivate func append(_ record: Record) {
        records.withLock { $0.append(record) }
    }

    struct Handler: LogHandler {
        let sink: CapturedLogs
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all = metadata
            if let explicit = event.metadata { all.merge(explicit) { _, new in new } }
            if let error = event.error { all["error"] = "\(error)" }
            sink.append(
                Record(
                    level: event.level, message: "\(event.message)",
                    metadata: all.mapValues { "\($0)" }))
        }
    }
}

@Suite struct CancellationLogTests {
    /// A serving queue, a run cancelled while its pipeline runs, and the next run taken from
    /// the queue afterwards: the cancel is logged at info as a cancel, and nothing at all is
    /// logged as an error or a warning (the cancelled task's own store calls used to fail with
    /// CancellationError and be logged as "cannot take a run from the queue").
    @Test func aCancelledRunIsLoggedAsCancelledNotAsAnError() async throws {
        let database = try TemporaryDatabase()
        let store = try database.open()
        var configuration = Fixtures.runConfiguration(
            pipeline: "hang-pipeline", runsDirectory: database.folder.appendingPathComponent("runs"),
            grace: .milliseconds(500))
        configuration.pollInterval = .milliseconds(100)
        let logs = CapturedLogs()
        let service = RunService(store: store, configuration: configuration, logger: logs.logger())
        let conversation = try await store.createConversation(
            ConversationSettings(slug: "town", title: "Town", question: "?"), by: .system)
        let constitution = try await Fixtures.publishConstitution(in: store, conversationID: conversation.id)
        func queue() async throws -> ComparisonRun {
            try await service.enqueue(
                constitutionID: constitution, baseline: .charter, profile: .smoke, seed: 7,
                parameters: ["prompts": .number(6)], by: .system)
        }
        let first = try await queue()
        let second = try await queue()
        let serving = Task { try await service.run() }
        let started = try await RunOrchestrationTests.until { () async throws -> Bool in
            let run = try await store.run(id: first.id)
            return run?.pipelinePID != nil && run?.progress != nil
        }
        #expect(started)
        let cancelled = try await service.cancel(id: first.id, by: Actor(organiserID: nil, name: "researcher"))
        #expect(cancelled.state == .cancelled)
        // The queue goes on with the next run; cancel that one too, before or after it starts.
        let next = try await RunOrchestrationTests.until { try await store.run(id: second.id)?.state == .running }
        #expect(next)
        _ = try await service.cancel(id: second.id, by: .system)
        serving.cancel()
        _ = try? await serving.value

        let records = logs.all
        let loud = records.filter { $0.level >= .warning }
        #expect(loud.isEmpty, "\(loud)")
        #expect(!records.contains { $0.description.contains("CancellationError") }, "\(records)")
        let cancels = records.filter { $0.message == "run cancelled" }
        #expect(cancels.count == 2)
        #expect(cancels.allSatisfy { $0.level == .info && $0.metadata["state"] == "cancelled" })
        #expect(cancels.first?.metadata["reason"] == "cancelled by researcher")
    }
}
