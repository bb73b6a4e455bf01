import CharterDomain
import Foundation
import Testing

@Suite struct BallotStuffingTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func joiner(_ id: Int64, minute: Double, address: String? = "a") -> BallotStuffing.Joiner {
        BallotStuffing.Joiner(participant: id, createdAt: start.addingTimeInterval(minute * 60), address: address)
    }

    static func ballot(_ participant: Int64, _ values: [VoteValue], first: Int64 = 1) -> [Vote] {
        values.enumerated().map {
            Vote(participantID: participant, statementID: first + Int64($0.offset), value: $0.element, createdAt: start)
        }
    }

    @Test func aBurstFromOneAddressIsFlaggedAndASteadyTrickleIsNot() {
        let burst = (1...20).map { Self.joiner($0, minute: Double($0) * 0.2) }
        let trickle = (21...60).map { Self.joiner($0, minute: Double($0) * 2, address: "b") }
        let flags = BallotStuffing.flags(joiners: burst + trickle, votes: [])
        #expect(Set(flags.keys) == Set(1...20))
        #expect(flags[1] == [.addressBurst])
        // Nineteen is a room, not a burst.
        let room = (1...19).map { Self.joiner($0, minute: 0) }
        #expect(BallotStuffing.flags(joiners: room, votes: []).isEmpty)
    }

    @Test func identicalBallotsFromPeopleWhoJoinedTogetherAreFlagged() {
        let values: [VoteValue] = [.agree, .disagree, .pass, .agree, .agree, .disagree, .agree, .pass]
        let clones = (1...5).map { Self.joiner($0, minute: Double($0), address: nil) }
        let votes = (1...5).flatMap { Self.ballot(Int64($0), values) }
        let flags = BallotStuffing.flags(joiners: clones, votes: votes)
        #expect(Set(flags.keys) == Set(1...5))
        #expect(flags[3] == [.identicalVotes])
    }

    @Test func agreementAloneIsNeverFlagged() {
        // A bloc agreeing on a few seeds.
        let bloc = (1...30).map { Self.joiner($0, minute: 0, address: nil) }
        let few = (1...30).flatMap { Self.ballot(Int64($0), [.agree, .agree, .agree, .disagree]) }
        #expect(BallotStuffing.flags(joiners: bloc, votes: few).isEmpty)
        // Identical long ballots from people who joined hours apart.
        let values = [VoteValue](repeating: .agree, count: 10)
        let apart = (1...6).map { Self.joiner($0, minute: Double($0) * 60, address: nil) }
        let votes = (1...6).flatMap { Self.ballot(Int64($0), values) }
        #expect(BallotStuffing.flags(joiners: apart, votes: votes).isEmpty)
        // Four clones are under the count.
        let four = (1...4).map { Self.joiner($0, minute: 0, address: nil) }
        #expect(BallotStuffing.flags(joiners: four, votes: (1...4).flatMap { Self.ballot(Int64($0), values) }).isEmpty)
    }
}
