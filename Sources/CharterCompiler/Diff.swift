/// What changed between two versions of a constitution, principle by principle. Principles are
/// matched by their lead statement (the first source), or by text when they have no sources.
public struct ConstitutionDiff: Codable, Sendable, Equatable {
    public struct Change: Codable, Sendable, Equatable {
        public var key: String
        public var before: String?
        public var after: String?
        public var scoreBefore: Double?
        public var scoreAfter: Double?
    }

    public var added: [Change]
    public var removed: [Change]
    public var reworded: [Change]
    public var rescored: [Change]

    public init(from old: Constitution, to new: Constitution) {
        func key(_ p: Constitution.Principle) -> String {
            p.sources?.first.map { "statement \($0.statement)" } ?? p.text
        }
        let before = Dictionary(old.principles.map { (key($0), $0) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary(new.principles.map { (key($0), $0) }, uniquingKeysWith: { first, _ in first })
        added = new.principles.filter { before[key($0)] == nil }.map {
            Change(key: key($0), before: nil, after: $0.text, scoreBefore: nil, scoreAfter: $0.score)
        }
        removed = old.principles.filter { after[key($0)] == nil }.map {
            Change(key: key($0), before: $0.text, after: nil, scoreBefore: $0.score, scoreAfter: nil)
        }
        var reworded: [Change] = []
        var rescored: [Change] = []
        for principle in new.principles {
            guard let previous = before[key(principle)] else { continue }
            let change = Change(
                key: key(principle), before: previous.text, after: principle.text, scoreBefore: previous.score,
                scoreAfter: principle.score)
            if previous.text != principle.text { reworded.append(change) }
            if previous.score != principle.score { rescored.append(change) }
        }
        self.reworded = reworded
        self.rescored = rescored
    }
}
