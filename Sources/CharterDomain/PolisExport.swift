/// A conversation in the Polis open-data export format (the files of a folder like
/// `../shared/polis-opendata/vtaiwan.uberx`), parsed from the files' text. Reading the files
/// is the caller's business; this is pure parsing.
public struct PolisExport: Sendable, Equatable {
    public struct Comment: Sendable, Equatable {
        public var id: Int64
        public var authorID: Int64?
        public var text: String
        /// −1 rejected, 0 unmoderated, 1 accepted.
        public var moderated: Int
        public var isMeta: Bool
        public var isSeed: Bool
        /// Polis' own group-aware consensus, where the export has it.
        public var groupInformedConsensus: Double?
        public var timestamp: Int64?

        public init(
            id: Int64, authorID: Int64?, text: String, moderated: Int, isMeta: Bool, isSeed: Bool,
            groupInformedConsensus: Double?, timestamp: Int64?
        ) {
            self.id = id
            self.authorID = authorID
            self.text = text
            self.moderated = moderated
            self.isMeta = isMeta
            self.isSeed = isSeed
            self.groupInformedConsensus = groupInformedConsensus
            self.timestamp = timestamp
        }
    }

    public struct Participant: Sendable, Equatable {
        public var id: Int64
        public var xid: String?
        /// Polis' own opinion group at export time.
        public var groupID: Int?

        public init(id: Int64, xid: String?, groupID: Int?) {
            self.id = id
            self.xid = xid
            self.groupID = groupID
        }
    }

    public struct Vote: Sendable, Equatable {
        public var participant: Int64
        public var comment: Int64
        public var value: Int8

        public init(participant: Int64, comment: Int64, value: Int8) {
            self.participant = participant
            self.comment = comment
            self.value = value
        }
    }

    public var topic: String?
    public var description: String?
    public var comments: [Comment]
    public var participants: [Participant]
    /// The final vote per participant and comment.
    public var votes: [Vote]

    public init(
        topic: String?, description: String?, comments: [Comment], participants: [Participant], votes: [Vote]
    ) {
        self.topic = topic
        self.description = description
        self.comments = comments
        self.participants = participants
        self.votes = votes
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case missingColumn(file: String, column: String)
        case badValue(file: String, line: Int, column: String, value: String)

        public var description: String {
            switch self {
            case .missingColumn(let file, let column): "\(file) has no column '\(column)'"
            case .badValue(let file, let line, let column, let value):
                "\(file) line \(line): '\(value)' is not a valid \(column)"
            }
        }
    }

    /// Parses an export. Votes come from `votes.csv` (the last event per cell by timestamp)
    /// when it is given, else from the cells of `participants-votes.csv`.
    public static func parse(
        participantsVotes: String, comments: String?, votes: String? = nil, summary: String? = nil
    ) throws(ParseError) -> PolisExport {
        let matrix = CSV.parse(participantsVotes)
        guard let header = matrix.first else {
            throw .missingColumn(file: "participants-votes.csv", column: "participant")
        }
        func column(_ name: String, in header: [String], file: String) throws(ParseError) -> Int {
            guard let index = header.firstIndex(of: name) else { throw .missingColumn(file: file, column: name) }
            return index
        }
        let file = "participants-votes.csv"
        let participantColumn = try column("participant", in: header, file: file)
        let groupColumn = try column("group-id", in: header, file: file)
        let xidColumn = header.firstIndex(of: "xid")
        let firstComment = try column("n-disagree", in: header, file: file) + 1
        var commentColumns: [(index: Int, id: Int64)] = []
        for index in firstComment..<header.count {
            guard let id = Int64(header[index]) else {
                throw .badValue(file: file, line: 1, column: "comment id", value: header[index])
            }
            commentColumns.append((index, id))
        }
        var participants: [Participant] = []
        var cellVotes: [Vote] = []
        for (line, row) in matrix.enumerated().dropFirst() where row.count > 1 || row.first?.isEmpty == false {
            guard let id = Int64(row[participantColumn]) else {
                throw .badValue(file: file, line: line + 1, column: "participant", value: row[participantColumn])
            }
            let group = row.count > groupColumn ? row[groupColumn] : ""
            let xid = xidColumn.flatMap { $0 < row.count && !row[$0].isEmpty ? row[$0] : nil }
            participants.append(Participant(id: id, xid: xid, groupID: Int(group)))
            for (index, comment) in commentColumns where index < row.count && !row[index].isEmpty {
                guard let value = Int8(row[index]), (-1...1).contains(value) else {
                    throw .badValue(file: file, line: line + 1, column: "vote", value: row[index])
                }
                cellVotes.append(Vote(participant: id, comment: comment, value: value))
            }
        }

        var parsedComments: [Comment] = []
        if let comments {
            let rows = CSV.parse(comments)
            let file = "comments.csv"
            if let header = rows.first {
                let idColumn = try column("comment-id", in: header, file: file)
                let bodyColumn = try column("comment-body", in: header, file: file)
                let author = header.firstIndex(of: "author-id")
                let moderated = header.firstIndex(of: "moderated")
                let meta = header.firstIndex(of: "is-meta")
                let seed = header.firstIndex(of: "is-seed")
                let gac = header.firstIndex(of: "group-informed-consensus")
                let timestamp = header.firstIndex(of: "timestamp")
                func cell(_ row: [String], _ index: Int?) -> String? {
                    guard let index, index < row.count, !row[index].isEmpty else { return nil }
                    return row[index]
                }
                for (line, row) in rows.enumerated().dropFirst() where row.count > 1 {
                    guard let id = cell(row, idColumn).flatMap({ Int64($0) }) else {
                        throw .badValue(
                            file: file, line: line + 1, column: "comment-id", value: cell(row, idColumn) ?? "")
                    }
                    parsedComments.append(
                        Comment(
                            id: id, authorID: cell(row, author).flatMap { Int64($0) },
                            text: CSVInjection.restored(cell(row, bodyColumn) ?? ""),
                            moderated: cell(row, moderated).flatMap { Int($0) } ?? 0,
                            isMeta: cell(row, meta) == "true", isSeed: cell(row, seed) == "true",
                            groupInformedConsensus: cell(row, gac).flatMap { Double($0) },
                            timestamp: cell(row, timestamp).flatMap { Int64($0) }))
                }
            }
        }

        var finalVotes = cellVotes
        if let votes {
            let rows = CSV.parse(votes)
            let file = "votes.csv"
            if let header = rows.first {
                let time = try column("timestamp", in: header, file: file)
                let comment = try column("comment-id", in: header, file: file)
                let voter = try column("voter-id", in: header, file: file)
                let vote = try column("vote", in: header, file: file)
                var events: [(time: Int64, order: Int, vote: Vote)] = []
                for (line, row) in rows.enumerated().dropFirst() where row.count > vote {
                    guard let t = Int64(row[time]), let c = Int64(row[comment]), let p = Int64(row[voter]),
                        let v = Int8(row[vote]), (-1...1).contains(v)
                    else {
                        throw .badValue(
                            file: file, line: line + 1, column: "vote event", value: row.joined(separator: ","))
                    }
                    events.append((t, line, Vote(participant: p, comment: c, value: v)))
                }
                events.sort { $0.time != $1.time ? $0.time < $1.time : $0.order < $1.order }
                var latest: [Key: Vote] = [:]
                var order: [Key] = []
                for event in events {
                    let key = Key(participant: event.vote.participant, comment: event.vote.comment)
                    if latest.updateValue(event.vote, forKey: key) == nil { order.append(key) }
                }
                finalVotes = order.map { latest[$0]! }
            }
        }

        var topic: String?
        var description: String?
        if let summary {
            for row in CSV.parse(summary) where row.count >= 2 {
                if row[0] == "topic" { topic = row[1] }
                if row[0] == "conversation-description" { description = row[1] }
            }
        }
        return PolisExport(
            topic: topic, description: description, comments: parsedComments, participants: participants,
            votes: finalVotes)
    }

    /// The settings of the conversation an import creates: closed (the votes are history),
    /// titled by the export's topic.
    public func conversationSettings(slug: String, fallbackTitle: String) -> ConversationSettings {
        let topic = topic.flatMap { $0.isEmpty ? nil : $0 } ?? fallbackTitle
        return ConversationSettings(
            slug: slug, title: String(topic.prefix(200)), question: String(topic.prefix(1000)),
            description: String((description ?? "Imported from a Polis export.").prefix(10_000)), state: .closed,
            participantStatementsAllowed: false, maxStatementLength: 2000)
    }

    struct Key: Hashable {
        var participant: Int64
        var comment: Int64
    }
}

/// RFC 4180 CSV: quoted fields may hold commas, quotes (doubled) and line breaks.
public enum CSV {
    public static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field: [UInt8] = []
        var inQuotes = false
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var i = 0
        func endField() {
            row.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        while i < bytes.count {
            let b = bytes[i]
            if inQuotes {
                if b == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") {
                        field.append(b)
                        i += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    field.append(b)
                }
            } else {
                switch b {
                case UInt8(ascii: "\""): inQuotes = true
                case UInt8(ascii: ","): endField()
                case UInt8(ascii: "\n"):
                    endField()
                    rows.append(row)
                    row = []
                case UInt8(ascii: "\r"): break
                default: field.append(b)
                }
            }
            i += 1
        }
        if !field.isEmpty || !row.isEmpty {
            endField()
            rows.append(row)
        }
        return rows
    }
}

/// Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a
/// formula. Charter's exports put a `'` before such a cell (OWASP's advice), and its import
/// takes that `'` off again, so a round trip keeps the text.
public enum CSVInjection {
    static let triggers: Set<Character> = ["=", "+", "-", "@", "\t", "\r"]

    public static func neutralised(_ text: String) -> String {
        guard let first = text.first, triggers.contains(first) else { return text }
        return "'" + text
    }

    public static func restored(_ text: String) -> String {
        guard text.hasPrefix("'"), let second = text.dropFirst().first, triggers.contains(second) else { return text }
        return String(text.dropFirst())
    }
}
