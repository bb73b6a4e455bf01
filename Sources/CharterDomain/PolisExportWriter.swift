import Foundation

/// Writes a conversation in the Polis open-data export format (`summary.csv`, `comments.csv`,
/// `votes.csv`, `participants-votes.csv`), so that what Charter collected can be read by the
/// tools built for Polis' data and imported back. Pure formatting: the caller gathers the data.
public enum PolisExportWriter {
    public struct Input: Sendable {
        public var conversation: Conversation
        public var statements: [Statement]
        public var participants: [Participant]
        /// Every vote event, oldest first.
        public var events: [Vote]
        /// Source ids from an earlier import, by Charter id.
        public var participantSources: [Int64: String]
        public var statementSources: [Int64: String]
        /// Opinion group by Charter participant id, from the latest analysis.
        public var groups: [Int64: Int]
        /// The conversation's demographic question keys, in its order, and each participant's
        /// answers (question → option key): `participant-demographics.csv` when there are
        /// questions or answers.
        public var demographicQuestions: [String]
        public var demographicAnswers: [Int64: [String: String]]

        public init(
            conversation: Conversation, statements: [Statement], participants: [Participant], events: [Vote],
            participantSources: [Int64: String], statementSources: [Int64: String], groups: [Int64: Int],
            demographicQuestions: [String] = [], demographicAnswers: [Int64: [String: String]] = [:]
        ) {
            self.conversation = conversation
            self.statements = statements
            self.participants = participants
            self.events = events
            self.participantSources = participantSources
            self.statementSources = statementSources
            self.groups = groups
            self.demographicQuestions = demographicQuestions
            self.demographicAnswers = demographicAnswers
        }
    }

    /// The files by name. Ids are the source ids when every row has a numeric one (an imported
    /// conversation exports with its original ids), else Charter's ids.
    public static func files(_ input: Input) -> [String: String] {
        let participantID = exportIDs(input.participants.map(\.id), sources: input.participantSources)
        let statementID = exportIDs(input.statements.map(\.id), sources: input.statementSources)
        let statements = input.statements.sorted { statementID[$0.id]! < statementID[$1.id]! }
        let participants = input.participants.sorted { participantID[$0.id]! < participantID[$1.id]! }

        var current: [Int64: [Int64: VoteValue]] = [:]
        var agreeEvents: [Int64: Int] = [:]
        var disagreeEvents: [Int64: Int] = [:]
        var votesCSV = "timestamp,datetime,comment-id,voter-id,vote\n"
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE MMM dd HH:mm:ss zzz yyyy"
        for event in input.events {
            guard let c = statementID[event.statementID], let p = participantID[event.participantID] else { continue }
            current[event.participantID, default: [:]][event.statementID] = event.value
            if event.value == .agree { agreeEvents[event.statementID, default: 0] += 1 }
            if event.value == .disagree { disagreeEvents[event.statementID, default: 0] += 1 }
            let ms = Int64((event.createdAt.timeIntervalSince1970 * 1000).rounded())
            votesCSV += "\(ms),\(formatter.string(from: event.createdAt)),\(c),\(p),\(event.value.rawValue)\n"
        }

        var commentsCSV =
            "timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,is-meta,is-seed,comment-body\n"
        for s in statements {
            let moderated = s.moderation == .accepted ? 1 : s.moderation == .rejected ? -1 : 0
            let ms = Int64((s.createdAt.timeIntervalSince1970 * 1000).rounded())
            let author = s.authorID.flatMap { participantID[$0] }.map(String.init) ?? ""
            commentsCSV +=
                "\(ms),\(formatter.string(from: s.createdAt)),\(statementID[s.id]!),\(author),\(agreeEvents[s.id] ?? 0),"
                + "\(disagreeEvents[s.id] ?? 0),\(moderated),\(s.isMeta),\(s.isSeed),\(field(s.text))\n"
        }

        let voted = statements.filter { s in current.values.contains { $0[s.id] != nil } }
        let hasXID = participants.contains { $0.xid != nil }
        var matrix = "participant" + (hasXID ? ",xid" : "") + ",group-id,n-comments,n-votes,n-agree,n-disagree"
        matrix += voted.map { ",\(statementID[$0.id]!)" }.joined() + "\n"
        let authored = Dictionary(grouping: input.statements.compactMap(\.authorID), by: { $0 }).mapValues(\.count)
        var voters = 0
        for p in participants {
            let votes = current[p.id] ?? [:]
            if !votes.isEmpty { voters += 1 }
            var row = "\(participantID[p.id]!)"
            if hasXID { row += ",\(field(p.xid ?? ""))" }
            row += ",\(input.groups[p.id].map(String.init) ?? "")"
            row += ",\(authored[p.id] ?? 0),\(votes.count),\(votes.values.filter { $0 == .agree }.count)"
            row += ",\(votes.values.filter { $0 == .disagree }.count)"
            for s in voted { row += "," + (votes[s.id].map { String($0.rawValue) } ?? "") }
            matrix += row + "\n"
        }

        let settings = input.conversation.settings
        let summary =
            [
                ("topic", settings.title), ("url", "/c/\(settings.slug)"), ("views", ""), ("voters", String(voters)),
                ("voters-in-conv", String(voters)),
                ("commenters", String(Set(input.statements.compactMap(\.authorID)).count)),
                ("comments", String(statements.count)), ("groups", String(Set(input.groups.values).count)),
                ("conversation-description", settings.description),
            ].map { "\($0.0),\(field($0.1))" }.joined(separator: "\n") + "\n"
        var files = [
            "summary.csv": summary, "comments.csv": commentsCSV, "votes.csv": votesCSV,
            "participants-votes.csv": matrix,
        ]
        if !input.demographicQuestions.isEmpty || !input.demographicAnswers.isEmpty {
            files["participant-demographics.csv"] = demographics(input, participantID: participantID)
        }
        return files
    }

    /// One row per participant who answered, with the participant id of the other files and
    /// one column per question (its option key, `prefer_not_to_say`, or empty); answers to
    /// questions no longer asked come after, in key order.
    static func demographics(_ input: Input, participantID: [Int64: Int64]) -> String {
        let asked = Set(input.demographicQuestions)
        let extra = Set(input.demographicAnswers.values.flatMap(\.keys)).subtracting(asked).sorted()
        let questions = input.demographicQuestions + extra
        var csv = (["participant"] + questions).map(field).joined(separator: ",") + "\n"
        let rows = input.demographicAnswers.compactMap { id, answers in participantID[id].map { ($0, answers) } }
        for (id, answers) in rows.sorted(by: { $0.0 < $1.0 }) where !answers.isEmpty {
            csv += "\(id)" + questions.map { "," + field(answers[$0] ?? "") }.joined() + "\n"
        }
        return csv
    }

    static func exportIDs(_ ids: [Int64], sources: [Int64: String]) -> [Int64: Int64] {
        let mapped = ids.map { id in sources[id].flatMap { Int64($0) } }
        if !ids.isEmpty, mapped.allSatisfy({ $0 != nil }), Set(mapped).count == ids.count {
            return Dictionary(uniqueKeysWithValues: zip(ids, mapped.map { $0! }))
        }
        return Dictionary(uniqueKeysWithValues: ids.map { ($0, $0) })
    }

    /// A CSV field, neutralised against formula injection, quoted when it holds a comma, quote
    /// or line break.
    static func field(_ raw: String) -> String {
        let text = CSVInjection.neutralised(raw)
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
