public import CharterDomain
public import Foundation

/// How comparison runs are executed.
public struct RunConfiguration: Sendable {
    /// Where run folders are made (`runs/<id>/`).
    public var runsDirectory = URL(fileURLWithPath: "runs", isDirectory: true)
    /// The pipeline: an executable (a bare name is looked up on PATH, a relative path is taken
    /// from the server's working directory) and fixed arguments, separated by spaces.
    public var pipelineCommand = "scripts/pipeline/run"
    /// Runs executing at once; the rest wait in the queue.
    public var concurrency = 1
    public var timeouts: [RunProfile: Duration] = [
        .smoke: .seconds(20 * 60), .small: .seconds(2 * 3600), .gpu: .seconds(72 * 3600),
    ]
    /// Between SIGTERM and SIGKILL.
    public var grace: Duration = .seconds(10)
    /// BBQ's `data/` folder, handed to the pipeline.
    public var bbqDirectory: String?
    /// Charter's own baseline constitution.
    public var baselinePath = "seeds/baseline-constitution.json"
    /// How often the queue is looked at for runs other processes queued.
    public var pollInterval: Duration = .seconds(2)
    /// How long a server holds a running run without renewing its lease (it renews every third
    /// of it); after that another server sharing the database may take the run over.
    public var lease: Duration = .seconds(30)
    /// Extra environment for the pipeline.
    public var environment: [String: String] = [:]
    /// The only folder `model_path` may name something in (`--models-directory`); none: no
    /// run may name a model by path.
    public var modelsDirectory: String?
    /// The only folder `prompts_path` may name a file in (`--prompts-directory`).
    public var promptsDirectory: String?

    /// The pipeline's list of parameters (`PipelineParameters`); nil: the reference
    /// pipeline's, `charter_pipeline/parameters.json` beside the pipeline command. When there
    /// is none, a run's parameters are checked by the pipeline alone, once it starts.
    public var parametersFile: String?

    public init() {}

    /// Where the pipeline's list of parameters is looked for.
    public var parametersURL: URL? {
        parametersFile.map { URL(fileURLWithPath: $0) } ?? PipelineParameters.besideCommand(command)
    }

    /// The first of the usual places BBQ is found, relative to the working directory.
    public static func defaultBBQDirectory() -> String? {
        ["../shared/evals/bbq/data", "shared/evals/bbq/data"].map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            .first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The command as the executor starts it.
    public var command: [String] {
        var parts = pipelineCommand.split(separator: " ").map(String.init)
        if let first = parts.first, first.contains("/"), !first.hasPrefix("/") {
            parts[0] = URL(fileURLWithPath: first).standardizedFileURL.path
        }
        return parts
    }
}

/// Which constitution a run compares against.
public enum BaselineChoice: Sendable, Equatable {
    /// Charter's own, from `seeds/`.
    case charter
    /// Any published constitution version.
    case constitution(Int64)
    /// A constitution file someone uploaded.
    case uploaded(Data, name: String)
}
