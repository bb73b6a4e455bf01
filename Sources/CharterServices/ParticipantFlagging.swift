public import CharterDomain
public import CharterStore
public import Foundation

/// The participants an organiser should look at before trusting a conversation's numbers: fast
/// voters (flagged as they vote) and the ballot-stuffing rules of `BallotStuffing`.
public enum ParticipantFlagging {
    public struct Flag: Sendable, Equatable {
        public var participant: Participant
        public var reasons: [BallotStuffing.Reason]
        public var votes: Int
        public var fastVotes: Int?
        public var flaggedAt: Date?
    }

    public static func flags(
        conversationID: Int64, store: any IdentityStore & VoteStore, rules: BallotStuffing.Rules = .init()
    )
        async throws -> [Flag]
    {
        let fast = try await store.flaggedParticipants(conversationID: conversationID)
        let votes = try await store.votes(conversationID: conversationID)
        let joiners = try await store.joiners(conversationID: conversationID)
        var reasons = BallotStuffing.flags(joiners: joiners, votes: votes, rules: rules)
        for flagged in fast { reasons[flagged.participant.id, default: []].insert(.fastVoting) }
        var voteCounts: [Int64: Int] = [:]
        for vote in votes { voteCounts[vote.participantID, default: 0] += 1 }
        let fastByID = Dictionary(fast.map { ($0.participant.id, $0) }, uniquingKeysWith: { first, _ in first })
        var result: [Flag] = []
        for (id, why) in reasons {
            var participant = fastByID[id]?.participant
            if participant == nil { participant = try await store.participant(id: id) }
            guard let participant else { continue }
            result.append(
                Flag(
                    participant: participant, reasons: why.sorted(), votes: voteCounts[id] ?? 0,
                    fastVotes: fastByID[id]?.fastVotes, flaggedAt: fastByID[id]?.flaggedAt))
        }
        return result.sorted {
            ($0.flaggedAt ?? .distantPast, $0.participant.id) > ($1.flaggedAt ?? .distantPast, $1.participant.id)
        }
    }
}
