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
}
