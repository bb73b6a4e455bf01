public import Foundation

/// Signs that participants are not separate people: rules an organiser can read, with
/// parameters, applied to who joined when, from where, and how they voted.
///
/// - **Address burst**: at least `burstCount` participants made from one address within
///   `burstWindow`. A class or an office behind one address can start together, so the count is
///   well above a room's worth of new joiners per window.
/// - **Identical votes**: at least `cloneCount` participants made within `cloneWindow` of each
///   other whose votes are identical, statement for statement and value for value, over at least
///   `cloneStatements` statements. Agreement alone never trips it: people who vote as a bloc on a
///   few seeds share fewer statements than that, and people who join at different times are
///   never compared.
public enum BallotStuffing {
    public struct Rules: Sendable, Equatable {
        public var burstCount = 20
        public var burstWindow: TimeInterval = 600
        public var cloneCount = 5
        public var cloneWindow: TimeInterval = 600
        public var cloneStatements = 8

        public init() {}
    }

    public enum Reason: String, Sendable, Codable, CaseIterable, Comparable {
        case fastVoting = "fast_voting"
        case addressBurst = "address_burst"
        case identicalVotes = "identical_votes"

        public static func < (a: Reason, b: Reason) -> Bool { a.rawValue < b.rawValue }
    }

    public struct Joiner: Sendable, Equatable {
        public var participant: Int64
        public var createdAt: Date
        /// A key of the address it joined from (a keyed hash, never the address); nil if unknown.
        public var address: String?

        public init(participant: Int64, createdAt: Date, address: String?) {
            self.participant = participant
            self.createdAt = createdAt
            self.address = address
        }
    }

    /// The reasons each flagged participant is flagged for, by participant id.
    public static func flags(joiners: [Joiner], votes: [Vote], rules: Rules = Rules()) -> [Int64: Set<Reason>] {
        var result: [Int64: Set<Reason>] = [:]
        // Address bursts: per address, a sliding window over the join times.
        var byAddress: [String: [Joiner]] = [:]
        for joiner in joiners { if let address = joiner.address { byAddress[address, default: []].append(joiner) } }
        for group in byAddress.values {
            for window in windows(group, span: rules.burstWindow, atLeast: rules.burstCount) {
                for joiner in window { result[joiner.participant, default: []].insert(.addressBurst) }
            }
        }
        // Identical votes: participants keyed by their whole ballot.
        var ballots: [Int64: [(Int64, Int)]] = [:]
        for vote in votes { ballots[vote.participantID, default: []].append((vote.statementID, vote.value.rawValue)) }
        var byBallot: [String: [Joiner]] = [:]
        let joined = Dictionary(joiners.map { ($0.participant, $0) }, uniquingKeysWith: { first, _ in first })
        for (participant, ballot) in ballots where ballot.count >= rules.cloneStatements {
            guard let joiner = joined[participant] else { continue }
            let key = ballot.sorted { $0.0 < $1.0 }.map { "\($0.0):\($0.1)" }.joined(separator: ",")
            byBallot[key, default: []].append(joiner)
        }
        for group in byBallot.values where group.count >= rules.cloneCount {
            for window in windows(group, span: rules.cloneWindow, atLeast: rules.cloneCount) {
                for joiner in window { result[joiner.participant, default: []].insert(.identicalVotes) }
            }
        }
        return result
    }

    /// Every maximal run of joiners, in time order, that fits in `span` and holds `atLeast`.
    static func windows(_ joiners: [Joiner], span: TimeInterval, atLeast: Int) -> [ArraySlice<Joiner>] {
        guard atLeast > 0, joiners.count >= atLeast else { return [] }
        let sorted = joiners.sorted { $0.createdAt < $1.createdAt }
        var found: [ArraySlice<Joiner>] = []
        var start = 0
        for end in sorted.indices {
            while sorted[end].createdAt.timeIntervalSince(sorted[start].createdAt) > span { start += 1 }
            if end - start + 1 >= atLeast { found.append(sorted[start...end]) }
        }
        return found
    }
}
