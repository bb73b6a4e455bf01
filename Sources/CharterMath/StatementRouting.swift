/// Which statement a participant sees next (§9): an unvoted statement drawn with probability
/// proportional to its priority, from a seeded generator so the draw can be repeated.
public enum StatementRouting {
    /// The priority of a statement no analysis has seen yet: no votes, no extremity.
    public static let newStatementPriority = PolisStatistics.priority(
        agree: 0, disagree: 0, votes: 0, extremity: 0, isMeta: false)

    /// Picks one of `candidates` (ids, ascending order not required) with probability
    /// proportional to `priorities[id]`; statements without a priority get the new-statement one.
    public static func pick(_ candidates: [Int64], priorities: [Int64: Double], seed: UInt64) -> Int64? {
        guard !candidates.isEmpty else { return nil }
        let sorted = candidates.sorted()
        let weights = sorted.map { max(0, priorities[$0] ?? newStatementPriority) }
        let total = weights.reduce(0, +)
        var generator = SplitMix64(seed: seed)
        guard total > 0, total.isFinite else { return sorted[Int(generator.next() % UInt64(sorted.count))] }
        var target = Double(generator.next() >> 11) / Double(1 << 53) * total
        for (index, weight) in weights.enumerated() {
            if target < weight { return sorted[index] }
            target -= weight
        }
        return sorted.last
    }

    /// FNV-1a of a string, to seed a draw from an identity.
    public static func seed(_ text: String, _ number: Int) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash ^ UInt64(bitPattern: Int64(number)) &* 0x9E37_79B9_7F4A_7C15
    }
}

/// A small, fast, seedable generator (Steele, Lea and Flood's SplitMix64).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
