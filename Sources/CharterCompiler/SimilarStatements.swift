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
}
