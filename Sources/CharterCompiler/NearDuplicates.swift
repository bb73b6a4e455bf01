import Foundation

/// Groups statements that say the same thing: TF-IDF cosine over word uni- and bigrams and
/// character trigrams, and vote patterns that agree. Deterministic (order by statement id).
enum NearDuplicates {
    struct Cluster: Equatable {
        var lead: Int64
        var members: [Int64]
    }

    static func clusters(
        _ items: [(id: Int64, text: String, shares: [Double], score: Double)], corpus: [String], similarity: Double,
        shareDifference: Double
    ) -> [Cluster] {
        let sorted = items.sorted { $0.id < $1.id }
        let weights = Weights(corpus: corpus)
        let vectors = sorted.map { weights.vector($0.text) }
        var parent = Array(sorted.indices)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { i = parent[i] }
            return i
        }
        for a in sorted.indices {
            for b in (a + 1)..<sorted.count {
                let cosine = Self.cosine(vectors[a], vectors[b])
                guard cosine >= similarity, sorted[a].shares.count == sorted[b].shares.count,
                    zip(sorted[a].shares, sorted[b].shares).allSatisfy({ abs($0 - $1) <= shareDifference })
                else { continue }
                let ra = root(a)
                let rb = root(b)
                if ra != rb { parent[max(ra, rb)] = min(ra, rb) }
            }
        }
        var groups: [Int: [Int]] = [:]
        for i in sorted.indices { groups[root(i), default: []].append(i) }
        return groups.keys.sorted().map { key in
            let members = groups[key]!
            let lead = members.max { a, b in
                sorted[a].score != sorted[b].score ? sorted[a].score < sorted[b].score : sorted[a].id > sorted[b].id
            }!
            return Cluster(lead: sorted[lead].id, members: members.map { sorted[$0].id })
        }
    }

    /// Applies organisers' hand grouping to the automatic clusters: a split statement stands
    /// alone, a merged one joins its lead's principle (when both were selected). The statement
    /// an organiser merged others into leads its principle, keeping its own wording and score
    /// (several such targets in one principle: the best-scoring of them); otherwise the lead is
    /// the best-scoring member. Ties go to the lower id.
    static func regroup(_ clusters: [Cluster], by grouping: [Int64: Int64?], scores: [Int64: Double]) -> [Cluster] {
        guard !grouping.isEmpty else { return clusters }
        var clusterOf: [Int64: Int] = [:]
        for (index, cluster) in clusters.enumerated() { for m in cluster.members { clusterOf[m] = index } }
        var members = clusters.map(\.members)
        var targets = Set<Int64>()
        for (statement, lead) in grouping.sorted(by: { $0.key < $1.key }) {
            guard let from = clusterOf[statement] else { continue }
            var to: Int
            if let lead {
                guard let target = clusterOf[lead] else { continue }
                targets.insert(lead)
                guard target != from else { continue }
                to = target
            } else {
                guard members[from].count > 1 else { continue }
                members.append([])
                to = members.count - 1
            }
            members[from].removeAll { $0 == statement }
            members[to].append(statement)
            clusterOf[statement] = to
        }
        return
            members.filter { !$0.isEmpty }.map { group in
                let sorted = group.sorted()
                let chosen = sorted.filter { targets.contains($0) && grouping[$0].map { $0 == nil } ?? true }
                let lead = (chosen.isEmpty ? sorted : chosen).max { a, b in
                    (scores[a] ?? 0) != (scores[b] ?? 0) ? (scores[a] ?? 0) < (scores[b] ?? 0) : a > b
                }!
                return Cluster(lead: lead, members: sorted)
            }.sorted { $0.members[0] < $1.members[0] }
    }

    /// TF-IDF weights over a conversation's statements: a word they all use counts for little.
    struct Weights {
        let documentFrequency: [String: Int]
        let documents: Double

        init(corpus: [String]) {
            var frequency: [String: Int] = [:]
            for text in corpus {
                for term in Set(NearDuplicates.features(text).keys) { frequency[term, default: 0] += 1 }
            }
            documentFrequency = frequency
            documents = Double(max(1, corpus.count))
        }

        /// The text's unit-length TF-IDF vector.
        func vector(_ text: String) -> [String: Double] {
            var v: [String: Double] = [:]
            for (term, count) in NearDuplicates.features(text) {
                let idf = log((1 + documents) / (1 + Double(documentFrequency[term] ?? 0))) + 1
                v[term] = Double(count) * idf
            }
            let norm = v.values.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return norm > 0 ? v.mapValues { $0 / norm } : v
        }
    }

    static func cosine(_ a: [String: Double], _ b: [String: Double]) -> Double {
        let (small, large) = a.count <= b.count ? (a, b) : (b, a)
        return small.reduce(0) { $0 + $1.value * (large[$1.key] ?? 0) }
    }

    static func features(_ text: String) -> [String: Int] {
        let words = text.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init)
        var counts: [String: Int] = [:]
        for word in words { counts["w:" + word, default: 0] += 1 }
        for pair in zip(words, words.dropFirst()) { counts["b:\(pair.0) \(pair.1)", default: 0] += 1 }
        let joined = Array(" " + words.joined(separator: " ") + " ")
        if joined.count >= 3 {
            for i in 0...(joined.count - 3) { counts["c:" + String(joined[i..<(i + 3)]), default: 0] += 1 }
        }
        return counts
    }
}
