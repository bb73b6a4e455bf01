public import Foundation

/// Charter's constitution format (`constitution.json`): the principles with their provenance,
/// the parameters and the snapshot they came from. The same type holds the project's baseline
/// constitution (`seeds/baseline-constitution.json`).
public struct Constitution: Codable, Sendable, Equatable {
    public static let formatName = "charter.constitution/v1"

    public var format: String
    public var name: String
    public var version: Int
    /// "collective" for compiled ones, "baseline" for the comparison arm.
    public var kind: String
    public var description: String
    public var conversation: String?
    public var parameters: CompileParameters?
    public var report: CompileSummary?
    /// The votes and analysis the principles came from.
    public var snapshot: Snapshot?
    public var principles: [Principle]
    /// The sha256 of the canonical JSON of everything else; see `hashed()`.
    public var sha256: String?

    public init(
        name: String, version: Int, kind: String, description: String, conversation: String? = nil,
        parameters: CompileParameters? = nil, report: CompileSummary? = nil, principles: [Principle]
    ) {
        format = Self.formatName
        self.name = name
        self.version = version
        self.kind = kind
        self.description = description
        self.conversation = conversation
        self.parameters = parameters
        self.report = report
        self.principles = principles
        sha256 = nil
    }

    public struct Snapshot: Codable, Sendable, Equatable {
        /// The newest vote event included.
        public var lastVoteEvent: Int64
        public var votes: Int
        public var participants: Int
        public var groups: Int
        public var groupSizes: [Int]
        public var silhouettes: [Double]

        public init(
            lastVoteEvent: Int64, votes: Int, participants: Int, groups: Int, groupSizes: [Int], silhouettes: [Double]
        ) {
            self.lastVoteEvent = lastVoteEvent
            self.votes = votes
            self.participants = participants
            self.groups = groups
            self.groupSizes = groupSizes
            self.silhouettes = silhouettes
        }
    }

    public struct Principle: Codable, Sendable, Equatable {
        public var id: String
        public var text: String
        public var critique: String?
        public var revision: String?
        public var category: String?
        /// The statements behind the principle (several when near-duplicates were merged).
        public var sources: [Source]?
        /// Each opinion group's agree share on the lead statement.
        public var groupAgreeShares: [Double]?
        public var gac: Double?
        public var score: Double?
        public var votes: Int?

        public init(
            id: String, text: String, critique: String? = nil, revision: String? = nil, category: String? = nil,
            sources: [Source]? = nil, groupAgreeShares: [Double]? = nil, gac: Double? = nil, score: Double? = nil,
            votes: Int? = nil
        ) {
            self.id = id
            self.text = text
            self.critique = critique
            self.revision = revision
            self.category = category
            self.sources = sources
            self.groupAgreeShares = groupAgreeShares
            self.gac = gac
            self.score = score
            self.votes = votes
        }
    }

    public struct Source: Codable, Sendable, Equatable {
        public var statement: Int64
        public var sourceId: String?
        public var text: String

        public init(statement: Int64, sourceId: String?, text: String) {
            self.statement = statement
            self.sourceId = sourceId
            self.text = text
        }
    }

    static let keyEncoding: JSONEncoder.KeyEncodingStrategy = .convertToSnakeCase

    /// Sorted keys, no insignificant white space, snake_case: the bytes that are hashed. The
    /// hash names the content, not its place in the sequence, so the version number is left out.
    public func canonicalJSON() throws -> Data {
        var copy = self
        copy.sha256 = nil
        copy.version = 0
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = Self.keyEncoding
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(copy)
    }

    /// This constitution with `sha256` set to the hash of its canonical JSON.
    public func hashed() throws -> Constitution {
        var copy = self
        copy.sha256 = SHA256Hex.digest(try canonicalJSON())
        return copy
    }

    public static func decode(_ data: Data) throws -> Constitution {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Constitution.self, from: data)
    }
}
