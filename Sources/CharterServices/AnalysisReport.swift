public import CharterMath
public import Foundation

/// The JSON form of an analysis for people and tools: `charter analyze --json` and
/// `GET /api/v1/conversations/{slug}/analysis`. Participants and statements carry Charter's id
/// and, for imported conversations, the source's id.
public struct AnalysisReport: Encodable, Sendable {
    public struct Participant: Encodable, Sendable {
        let id: Int64
        let sourceId: String?
        let group: Int?
        let x: Double
        let y: Double
        let inConv: Bool
        let votes: Int
    }

    public struct Representative: Encodable, Sendable {
        let statement: Int64
        let sourceId: String?
        let direction: String
        let count: Int
        let total: Int
        let probability: Double
        let probabilityTest: Double
        let repness: Double
        let repnessTest: Double
        let othersProbability: Double
    }

    public struct Group: Encodable, Sendable {
        let id: Int
        let size: Int
        let representative: [Representative]
    }

    public struct ConsensusStatement: Encodable, Sendable {
        let statement: Int64
        let sourceId: String?
        let count: Int
        let total: Int
        let probability: Double
        let probabilityTest: Double
    }

    public struct Consensus: Encodable, Sendable {
        let agree: [ConsensusStatement]
        let disagree: [ConsensusStatement]
    }

    public struct Statement: Encodable, Sendable {
        let id: Int64
        let sourceId: String?
        let x: Double
        let y: Double
        let extremity: Double
        let moderatedOut: Bool
        let agree: Int
        let disagree: Int
        let votes: Int
        let groupVotes: [AnalysisResult.GroupVotes]
        let gac: Double
        let gacDisagree: Double
        let ccaiAgreeProduct: Double
        let priority: Double
    }

    public struct Timing: Encodable, Sendable {
        /// Reading the votes (the CSV file or the store's snapshot).
        let read: Double
        let matrix: Double
        let pca: Double
        /// Passes of the PCA over the votes.
        let pcaPasses: Int
        let clustering: Double
        let statistics: Double
        let total: Double
    }

    let k: Int
    let participantCount: Int
    let statementCount: Int
    let voteCount: Int
    let silhouettes: [AnalysisResult.KScore]
    var participants: [Participant]
    let groups: [Group]
    let consensus: Consensus
    let statements: [Statement]
    let timingMs: Timing?
    let computedAt: Date?
    let ageSeconds: Double?

    public init(
        _ result: AnalysisResult, participantSources: [Int64: String] = [:], statementSources: [Int64: String] = [:],
        timings: AnalysisTimings? = nil, computedAt: Date? = nil, now: Date = Date()
    ) {
        k = result.k
        participantCount = result.participantCount
        statementCount = result.statementCount
        voteCount = result.voteCount
        silhouettes = result.silhouettes
        participants = result.participants.map {
            Participant(
                id: $0.id, sourceId: participantSources[$0.id], group: $0.group, x: $0.x, y: $0.y, inConv: $0.inConv,
                votes: $0.voteCount)
        }
        groups = result.groups.map { group in
            Group(
                id: group.id, size: group.size,
                representative: group.representative.map {
                    Representative(
                        statement: $0.statement, sourceId: statementSources[$0.statement],
                        direction: $0.direction.rawValue,
                        count: $0.count, total: $0.total, probability: $0.probability,
                        probabilityTest: $0.probabilityTest,
                        repness: $0.repness, repnessTest: $0.repnessTest, othersProbability: $0.othersProbability)
                })
        }
        func consensus(_ list: [AnalysisResult.ConsensusStatement]) -> [ConsensusStatement] {
            list.map {
                ConsensusStatement(
                    statement: $0.statement, sourceId: statementSources[$0.statement], count: $0.count, total: $0.total,
                    probability: $0.probability, probabilityTest: $0.probabilityTest)
            }
        }
        self.consensus = Consensus(
            agree: consensus(result.consensus.agree), disagree: consensus(result.consensus.disagree))
        statements = result.statements.map {
            Statement(
                id: $0.id, sourceId: statementSources[$0.id], x: $0.x, y: $0.y, extremity: $0.extremity,
                moderatedOut: $0.moderatedOut, agree: $0.agree, disagree: $0.disagree, votes: $0.votes,
                groupVotes: $0.groupVotes, gac: $0.gac, gacDisagree: $0.gacDisagree,
                ccaiAgreeProduct: $0.ccaiAgreeProduct, priority: $0.priority)
        }
        timingMs = timings.map {
            Timing(
                read: $0.read, matrix: $0.matrix, pca: $0.pca, pcaPasses: $0.pcaPasses, clustering: $0.clustering,
                statistics: $0.statistics, total: $0.total)
        }
        self.computedAt = computedAt
        ageSeconds = computedAt.map { max(0, now.timeIntervalSince($0)) }
    }

    /// The report as `encoder` writes it, made faster for big conversations: the participants
    /// (millions of them) are written by hand, the rest by the encoder, with the same keys and
    /// the same numbers.
    public func jsonData() throws -> Data {
        var rest = self
        rest.participants = []
        let skeleton = try Self.encoder.encode(rest)
        let marker = Data(#""participants":[]"#.utf8)
        guard !participants.isEmpty, let range = skeleton.range(of: marker) else { return skeleton }
        var out = Data()
        out.reserveCapacity(skeleton.count + participants.count * 96)
        out.append(skeleton[skeleton.startIndex..<range.lowerBound])
        var text = #""participants":["#
        for (index, p) in participants.enumerated() {
            if index > 0 { text += "," }
            text += "{"
            if let group = p.group { text += #""group":\#(group),"# }
            text += #""id":\#(p.id),"in_conv":\#(p.inConv),"#
            if let source = p.sourceId { text += #""source_id":"# + Self.quoted(source) + "," }
            text += #""votes":\#(p.votes),"x":"# + Self.number(p.x) + #","y":"# + Self.number(p.y) + "}"
            if text.utf8.count > 1 << 20 {
                out.append(contentsOf: text.utf8)
                text = ""
            }
        }
        text += "]"
        out.append(contentsOf: text.utf8)
        out.append(skeleton[range.upperBound...])
        return out
    }

    /// A finite double as JSONEncoder writes it (its shortest form, without a trailing ".0").
    static func number(_ value: Double) -> String {
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    /// A JSON string, escaped as JSONEncoder escapes it (slashes too).
    static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "/": out += "\\/"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
}
