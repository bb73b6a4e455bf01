/// Near-duplicate statements by the compiler's own measure (`NearDuplicates`: TF-IDF cosine
/// over words, word pairs and character trigrams), on their wording alone, for the moderation
/// queue: what the compiler would merge if the groups also voted alike.
public enum SimilarStatements {
    /// The groups of two or more statements at least `similarity` alike, each in id order, the
    /// groups in the order of their lowest id. `corpus` weighs the words (every statement of the
    /// conversation, so a word all of them use counts for little).
    public static func groups(
        _ statements: [(id: Int64, text: String)], corpus: [String],
        similarity: Double = CompileParameters().mergeSimilarity
    ) -> [[Int64]] {
        NearDuplicates.clusters(
            statements.map { (id: $0.id, text: $0.text, shares: [Double](), score: 0.0) }, corpus: corpus,
            similarity: similarity, shareDifference: 0
        ).map(\.members).filter { $0.count > 1 }
    }

    /// For each of `statements`, the others of `among` at least `similarity` alike, most alike
    /// first: the queue shows a pending statement's look-alikes wherever they are (an accepted
    /// one on another page, say), and a participant sees them before adding theirs.
    public static func matches(
        of statements: [(id: Int64, text: String)], among others: [(id: Int64, text: String)], corpus: [String],
        similarity: Double = CompileParameters().mergeSimilarity
    ) -> [Int64: [(id: Int64, similarity: Double)]] {
        let weights = NearDuplicates.Weights(corpus: corpus)
        let candidates = others.map { (id: $0.id, vector: weights.vector($0.text)) }
        var result: [Int64: [(id: Int64, similarity: Double)]] = [:]
        for statement in statements {
            let vector = weights.vector(statement.text)
            let found = candidates.compactMap { candidate -> (id: Int64, similarity: Double)? in
                guard candidate.id != statement.id else { return nil }
                let cosine = NearDuplicates.cosine(vector, candidate.vector)
                return cosine >= similarity ? (candidate.id, cosine) : nil
            }
            if !found.isEmpty {
                result[statement.id] = found.sorted {
                    $0.similarity != $1.similarity ? $0.similarity > $1.similarity : $0.id < $1.id
                }
            }
        }
        return result
    }

    /// A statement much like a participant's new one.
    public struct LookAlike: Sendable, Equatable {
        public let id: Int64
        public let similarity: Double
        /// The same words once case, punctuation and spacing are set aside: the new statement
        /// would add nothing.
        public let identical: Bool

        public init(id: Int64, similarity: Double, identical: Bool) {
            self.id = id
            self.similarity = similarity
            self.identical = identical
        }
    }

    /// The statements of `among` much like `text`, the identical ones and then the most alike
    /// first, at most `limit`: what a participant is shown before their statement is stored.
    public static func lookAlikes(
        of text: String, among others: [(id: Int64, text: String)], limit: Int = 5,
        similarity: Double = CompileParameters().mergeSimilarity
    ) -> [LookAlike] {
        let key = wordsKey(text)
        let corpus = others.map(\.text) + [text]
        let similar =
            matches(of: [(id: -1, text: text)], among: others, corpus: corpus, similarity: similarity)[-1] ?? []
        var found: [Int64: LookAlike] = [:]
        for match in similar {
            found[match.id] = LookAlike(id: match.id, similarity: match.similarity, identical: false)
        }
        for other in others where !key.isEmpty && wordsKey(other.text) == key {
            found[other.id] = LookAlike(id: other.id, similarity: 1, identical: true)
        }
        return found.values.sorted {
            if $0.identical != $1.identical { return $0.identical }
            if $0.similarity != $1.similarity { return $0.similarity > $1.similarity }
            return $0.id < $1.id
        }.prefix(max(0, limit)).map { $0 }
    }

    /// The text's words, lower-cased, without punctuation, one space apart.
    public static func wordsKey(_ text: String) -> String {
        text.lowercased().split { !($0.isLetter || $0.isNumber) }.joined(separator: " ")
    }
}
