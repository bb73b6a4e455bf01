public import CharterDomain
public import Foundation

/// `runs/<id>/manifest.json`: everything a pipeline needs to know about a run, in the versioned
/// contract of `scripts/pipeline/CONTRACT.md`.
public struct RunManifest: Codable, Sendable, Equatable {
    public static let schemaName = "charter.run-manifest/1"

    public var schema: String
    public var runID: String
    public var createdAt: String
    public var profile: String
    public var seed: Int64
    public var parameters: [String: RunParameter]
    public var promptsPath: String?
    public var bbqDir: String?
    public var outputDir: String
    public var arms: [Arm]
    public var charter: CharterInfo

    public struct Arm: Codable, Sendable, Equatable {
        public var name: String
        public var constitution: ArmConstitution
    }

    public struct ArmConstitution: Codable, Sendable, Equatable {
        public var name: String
        public var version: Int
        public var kind: String
        public var sha256: String
        /// Absolute paths by format: `json`, `cai`, `txt`.
        public var files: [String: String]
    }

    public struct CharterInfo: Codable, Sendable, Equatable {
        public var version: String
    }

    enum CodingKeys: String, CodingKey {
        case schema, profile, seed, parameters, arms, charter
        case runID = "run_id"
        case createdAt = "created_at"
        case promptsPath = "prompts_path"
        case bbqDir = "bbq_dir"
        case outputDir = "output_dir"
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> RunManifest {
        try JSONDecoder().decode(RunManifest.self, from: data)
    }
}

/// Charter's version as it appears in manifests.
public enum CharterVersion {
    public static let current = "0.5.0"
}
