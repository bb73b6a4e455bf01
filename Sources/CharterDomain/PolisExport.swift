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
        case tooLarge(file: String, what: String, limit: Int)

        public var description: String {
            switch self {
            case .missingColumn(let file, let column): "\(file) has no column '\(column)'"
            case .badValue(let file, let line, let column, let value):
                "\(file) line \(line): '\(value.prefix(80))' is not a valid \(column)"
            case .tooLarge(let file, let what, let limit): "\(file) has more than \(limit) \(what)"
            }
        }
    }

    /// Parses an export. Votes come from `votes.csv` (the last event per cell by timestamp)
    /// when it is given, else from the cells of `participants-votes.csv`. Every row is read
    /// with checked access: a short row, a missing cell or a stray value is a `ParseError`.
    public static func parse(
        participantsVotes: String, comments: String?, votes: String? = nil, summary: String? = nil,
        limits: CSV.Limits = .init()
    ) throws(ParseError) -> PolisExport {
        func table(_ text: String, file: String) throws(ParseError) -> [[String]] {
            do throws(CSV.LimitError) {
                return try CSV.parse(text, limits: limits)
            } catch {
                switch error {
                case .tooManyRows: throw .tooLarge(file: file, what: "rows", limit: limits.rows)
                case .tooManyColumns: throw .tooLarge(file: file, what: "columns", limit: limits.columns)
                }
            }
        }
        func column(_ name: String, in header: [String], file: String) throws(ParseError) -> Int {
            guard let index = header.firstIndex(of: name) else { throw .missingColumn(file: file, column: name) }
            return index
        }
        func cell(_ row: [String], _ index: Int?) -> String? {
            guard let index, row.indices.contains(index), !row[index].isEmpty else { return nil }
            return row[index]
        }
        func flag(_ value: String?) -> Bool {
            guard let value = value?.lowercased() else { return false }
            return value == "true" || value == "1"
        }

        let file = "participants-votes.csv"
        let matrix = try table(participantsVotes, file: file)
        guard let header = matrix.first else {
            throw .missingColumn(file: file, column: "participant")
        }
        let participantColumn = try column("participant", in: header, file: file)
        let groupColumn = try column("group-id", in: header, file: file)
        let xidColumn = header.firstIndex(of: "xid")
        let firstComment = try column("n-disagree", in: header, file: file) + 1
        var commentColumns: [(index: Int, id: Int64)] = []
        for index in header.indices where index >= firstComment {
            guard let id = Int64(header[index]) else {
                throw .badValue(file: file, line: 1, column: "comment id", value: header[index])
            }
            commentColumns.append((index, id))
        }
        var participants: [Participant] = []
        var cellVotes: [Vote] = []
        for (line, row) in matrix.enumerated().dropFirst() where row.count > 1 || row.first?.isEmpty == false {
            guard let id = cell(row, participantColumn).flatMap({ Int64($0) }) else {
                throw .badValue(
                    file: file, line: line + 1, column: "participant", value: cell(row, participantColumn) ?? "")
            }
            let xid = cell(row, xidColumn)
            participants.append(Participant(id: id, xid: xid, groupID: cell(row, groupColumn).flatMap { Int($0) }))
            for (index, comment) in commentColumns {
                guard let raw = cell(row, index) else { continue }
                guard let value = Int8(raw), (-1...1).contains(value) else {
                    throw .badValue(file: file, line: line + 1, column: "vote", value: raw)
                }
                cellVotes.append(Vote(participant: id, comment: comment, value: value))
            }
        }

        var parsedComments: [Comment] = []
        if let comments {
            let file = "comments.csv"
            let rows = try table(comments, file: file)
            if let header = rows.first {
                let idColumn = try column("comment-id", in: header, file: file)
                let bodyColumn = try column("comment-body", in: header, file: file)
                let author = header.firstIndex(of: "author-id")
                let moderated = header.firstIndex(of: "moderated")
                let meta = header.firstIndex(of: "is-meta")
                let seed = header.firstIndex(of: "is-seed")
                let gac = header.firstIndex(of: "group-informed-consensus")
                let timestamp = header.firstIndex(of: "timestamp")
                for (line, row) in rows.enumerated().dropFirst() where row.count > 1 || row.first?.isEmpty == false {
                    guard let id = cell(row, idColumn).flatMap({ Int64($0) }) else {
                        throw .badValue(
                            file: file, line: line + 1, column: "comment-id", value: cell(row, idColumn) ?? "")
                    }
                    parsedComments.append(
                        Comment(
                            id: id, authorID: cell(row, author).flatMap { Int64($0) },
                            text: CSVInjection.restored(cell(row, bodyColumn) ?? ""),
                            moderated: cell(row, moderated).flatMap { Int($0) }.map { max(-1, min(1, $0)) } ?? 0,
                            isMeta: flag(cell(row, meta)), isSeed: flag(cell(row, seed)),
                            groupInformedConsensus: cell(row, gac).flatMap { Double($0) }.flatMap {
                                $0.isFinite ? $0 : nil
                            },
                            timestamp: cell(row, timestamp).flatMap { Int64($0) }))
                }
            }
        }

        var finalVotes = cellVotes
        if let votes {
            let file = "votes.csv"
            let rows = try table(votes, file: file)
            if let header = rows.first {
                let time = try column("timestamp", in: header, file: file)
                let comment = try column("comment-id", in: header, file: file)
                let voter = try column("voter-id", in: header, file: file)
                let vote = try column("vote", in: header, file: file)
                var events: [(time: Int64, order: Int, vote: Vote)] = []
                for (line, row) in rows.enumerated().dropFirst() where row.count > 1 || row.first?.isEmpty == false {
                    guard let t = cell(row, time).flatMap({ Int64($0) }),
                        let c = cell(row, comment).flatMap({ Int64($0) }),
                        let p = cell(row, voter).flatMap({ Int64($0) }), let v = cell(row, vote).flatMap({ Int8($0) }),
                        (-1...1).contains(v)
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
                finalVotes = order.compactMap { latest[$0] }
            }
        }

        var topic: String?
        var description: String?
        if let summary {
            for row in try table(summary, file: "summary.csv") {
                guard let key = cell(row, 0), let value = cell(row, 1) else { continue }
                if key == "topic" { topic = value }
                if key == "conversation-description" { description = value }
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
    /// How big a table may be; a file over either is refused before it is all in memory.
    public struct Limits: Sendable, Equatable {
        public var rows: Int
        public var columns: Int

        public init(rows: Int = 10_000_000, columns: Int = 100_000) {
            self.rows = rows
            self.columns = columns
        }

        public static let unlimited = Limits(rows: .max, columns: .max)
    }

    public enum LimitError: Error, Equatable {
        case tooManyRows
        case tooManyColumns
    }

    public static func parse(_ text: String) -> [[String]] {
        (try? parse(text, limits: .unlimited)) ?? []
    }

    public static func parse(_ text: String, limits: Limits) throws(LimitError) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field: [UInt8] = []
        var inQuotes = false
        var limitError: LimitError?
        var utf8 = text.utf8[...]
        if utf8.starts(with: [0xEF, 0xBB, 0xBF]) { utf8 = utf8.dropFirst(3) }
        var previousWasQuote = false
        func endField() -> Bool {
            guard row.count < limits.columns else {
                limitError = .tooManyColumns
                return false
            }
            row.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            return true
        }
        func endRow() -> Bool {
            guard endField() else { return false }
            guard rows.count < limits.rows else {
                limitError = .tooManyRows
                return false
            }
            rows.append(row)
            row = []
            return true
        }
        // A doubled quote inside quotes is one quote: seen as a closing quote followed at once
        // by an opening one.
        for b in utf8 {
            if inQuotes {
                if b == UInt8(ascii: "\"") {
                    inQuotes = false
                    previousWasQuote = true
                    continue
                }
                field.append(b)
            } else {
                switch b {
                case UInt8(ascii: "\""):
                    if previousWasQuote { field.append(b) }
                    inQuotes = true
                case UInt8(ascii: ","):
                    guard endField() else { throw limitError ?? .tooManyColumns }
                case UInt8(ascii: "\n"):
                    guard endRow() else { throw limitError ?? .tooManyRows }
                case UInt8(ascii: "\r"): break
                default: field.append(b)
                }
            }
            previousWasQuote = false
        }
        if !field.isEmpty || !row.isEmpty {
            guard endRow() else { throw limitError ?? .tooManyRows }
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
