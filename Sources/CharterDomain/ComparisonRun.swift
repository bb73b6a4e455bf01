public import Foundation

/// Where a comparison run is in its life. Only `queued → running → finished` and
/// `queued → cancelled` happen; a finished run never changes again.
public enum RunState: String, Codable, Sendable, CaseIterable {
    case queued, running, succeeded, failed, cancelled

    public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// The training profiles the reference pipeline knows (`scripts/pipeline/CONTRACT.md`).
public enum RunProfile: String, Codable, Sendable, CaseIterable {
    /// A tiny model built locally: the whole path on a CPU in about a minute (CI).
    case smoke
    /// SmolLM2-135M-Instruct on a CPU in minutes (the demo).
    case small
    /// Any local model on GPUs.
    case gpu
}

/// A value of a run parameter: the manifest's `parameters` hold numbers, strings and booleans.
public enum RunParameter: Codable, Sendable, Equatable, CustomStringConvertible {
    case number(Double)
    case string(String)
    case bool(Bool)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "A run parameter is a number, a string or a boolean.")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let value):
            if value == value.rounded(), abs(value) < 1e15 {
                try container.encode(Int64(value))
            } else {
                try container.encode(value)
            }
        case .string(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        }
    }

    public var description: String {
        switch self {
        case .number(let value): value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .string(let value): value
        case .bool(let value): value ? "true" : "false"
        }
    }

    /// Reads "12", "0.5", "true" or any other text from a form field.
    public init(parsing text: String) {
        if text == "true" || text == "false" {
            self = .bool(text == "true")
        } else if let number = Double(text), number.isFinite {
            self = .number(number)
        } else {
            self = .string(text)
        }
    }
}

/// A request for a comparison run: the collective constitution against a baseline, trained and
/// evaluated the same way.
public struct NewComparisonRun: Sendable, Equatable {
    public var ccaiConstitutionID: Int64
    /// What the baseline is, for people: "seeds/baseline-constitution.json", "constitution 7"…
    public var baselineSource: String
    /// The baseline constitution's exact JSON, kept so the run can be repeated.
    public var baselineBody: Data
    public var baselineSHA256: String
    public var profile: RunProfile
    public var seed: Int64
    public var parameters: [String: RunParameter]
    public var pipelineCommand: String
    public var retryOf: Int64?

    public init(
        ccaiConstitutionID: Int64, baselineSource: String, baselineBody: Data, baselineSHA256: String,
        profile: RunProfile, seed: Int64, parameters: [String: RunParameter], pipelineCommand: String,
        retryOf: Int64? = nil
    ) {
        self.ccaiConstitutionID = ccaiConstitutionID
        self.baselineSource = baselineSource
        self.baselineBody = baselineBody
        self.baselineSHA256 = baselineSHA256
        self.profile = profile
        self.seed = seed
        self.parameters = parameters
        self.pipelineCommand = pipelineCommand
        self.retryOf = retryOf
    }
}

public struct ComparisonRun: Sendable, Equatable {
    public var id: Int64
    public var state: RunState
    public var request: NewComparisonRun
    public var ccaiSHA256: String
    public var createdAt: Date
    public var createdBy: String
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Why a run failed or was cancelled, in words for the run page.
    public var failure: String?
    /// The run folder, once the run has started.
    public var directory: String?
    /// The Charter process executing the run, so a restart can tell its own orphans apart from
    /// runs another live process (`charter run --wait`) is executing.
    public var ownerPID: Int32?
    /// The pipeline's process group.
    public var pipelinePID: Int32?
    /// The latest progress as JSON (`RunProgress` in CharterPipeline).
    public var progress: Data?
    /// The pipeline's `results.json`, once it succeeded.
    public var results: Data?
    public var pipelineVersion: String?
    /// The server executing the run (`host:pid:nonce`), when servers share a database.
    public var owner: String?
    /// Until when the owner holds the run; it renews the lease while it lives, and only once
    /// the lease has run out may another server take the run over.
    public var leaseExpiresAt: Date?

    public init(
        id: Int64, state: RunState, request: NewComparisonRun, ccaiSHA256: String, createdAt: Date, createdBy: String,
        startedAt: Date? = nil, finishedAt: Date? = nil, failure: String? = nil, directory: String? = nil,
        ownerPID: Int32? = nil, pipelinePID: Int32? = nil, progress: Data? = nil, results: Data? = nil,
        pipelineVersion: String? = nil, owner: String? = nil, leaseExpiresAt: Date? = nil
    ) {
        self.owner = owner
        self.leaseExpiresAt = leaseExpiresAt
        self.id = id
        self.state = state
        self.request = request
        self.ccaiSHA256 = ccaiSHA256
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.failure = failure
        self.directory = directory
        self.ownerPID = ownerPID
        self.pipelinePID = pipelinePID
        self.progress = progress
        self.results = results
        self.pipelineVersion = pipelineVersion
    }
}

/// A change to a run; nil fields stay as they are.
public struct RunChange: Sendable, Equatable {
    public var state: RunState?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var failure: String?
    public var directory: String?
    public var ownerPID: Int32?
    public var pipelinePID: Int32?
    public var progress: Data?
    public var results: Data?
    public var pipelineVersion: String?
    public var owner: String?
    public var leaseExpiresAt: Date?

    public init(
        state: RunState? = nil, startedAt: Date? = nil, finishedAt: Date? = nil, failure: String? = nil,
        directory: String? = nil, ownerPID: Int32? = nil, pipelinePID: Int32? = nil, progress: Data? = nil,
        results: Data? = nil, pipelineVersion: String? = nil, owner: String? = nil, leaseExpiresAt: Date? = nil
    ) {
        self.owner = owner
        self.leaseExpiresAt = leaseExpiresAt
        self.state = state
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.failure = failure
        self.directory = directory
        self.ownerPID = ownerPID
        self.pipelinePID = pipelinePID
        self.progress = progress
        self.results = results
        self.pipelineVersion = pipelineVersion
    }
}
