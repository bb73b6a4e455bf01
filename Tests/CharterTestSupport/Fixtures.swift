import CharterCompiler
import CharterDomain
public import CharterPipeline
public import CharterStore
public import Foundation

/// The test fixtures on disk, and small builders for the runs tests.
public enum Fixtures {
    /// The repository's root folder.
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// A stand-in pipeline script of `Tests/CharterPipelineTests/Fixtures`.
    public static func pipeline(_ name: String) -> String {
        repository.appendingPathComponent("Tests/CharterPipelineTests/Fixtures/\(name)").path
    }

    public static var baselinePath: String {
        repository.appendingPathComponent("seeds/baseline-constitution.json").path
    }

    public static func runConfiguration(
        pipeline name: String, runsDirectory: URL, timeout: Duration = .seconds(120), grace: Duration = .seconds(2)
    ) -> RunConfiguration {
        var configuration = RunConfiguration()
        configuration.runsDirectory = runsDirectory
        configuration.pipelineCommand = pipeline(name)
        configuration.timeouts = Dictionary(uniqueKeysWithValues: RunProfile.allCases.map { ($0, timeout) })
        configuration.grace = grace
        configuration.baselinePath = baselinePath
        // The stand-in pipelines take the reference pipeline's parameters.
        configuration.parametersFile =
            repository.appendingPathComponent("scripts/pipeline/charter_pipeline/parameters.json").path
        configuration.bbqDirectory =
            repository.deletingLastPathComponent().appendingPathComponent("shared/evals/bbq/data")
            .path
        return configuration
    }

    /// Publishes a small collective constitution in the conversation; returns its id.
    public static func publishConstitution(in store: any CharterStore, conversationID: Int64) async throws -> Int64 {
        let stored = try await store.publishConstitution(conversationID: conversationID, by: .system) { version in
            var constitution = Constitution(
                name: "Town hall constitution", version: version, kind: "collective",
                description: "Principles the town agreed on (draft \(version)).",
                principles: [
                    .init(id: "p1", text: "Choose the response that is most honest about what it does not know."),
                    .init(id: "p2", text: "Choose the response that treats every group of people with equal respect."),
                    .init(
                        id: "p3", text: "Choose the response that does not take sides on contested political questions."
                    ),
                ])
            constitution = try constitution.hashed()
            return (try constitution.rendered(.json), constitution.sha256 ?? "")
        }
        return stored.id
    }
}
