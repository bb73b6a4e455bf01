public import Foundation

/// Agree, disagree and pass counts of a statement's current votes.
public struct VoteTally: Sendable, Equatable {
    public var agree: Int
    public var disagree: Int
    public var pass: Int

    public init(agree: Int = 0, disagree: Int = 0, pass: Int = 0) {
        self.agree = agree
        self.disagree = disagree
        self.pass = pass
    }

    public var total: Int { agree + disagree + pass }

    /// The share of its votes that agree (passes count as votes); nil when it has none.
    public var agreeShare: Double? { total == 0 ? nil : Double(agree) / Double(total) }
}

/// One hour (UTC) of a conversation's activity.
public struct ActivityHour: Sendable, Equatable {
    /// The start of the hour.
    public var start: Date
    /// Vote events recorded in the hour (a changed vote counts again).
    public var voteEvents: Int
    /// Participants who joined in the hour.
    public var participants: Int

    public init(start: Date, voteEvents: Int, participants: Int) {
        self.start = start
        self.voteEvents = voteEvents
        self.participants = participants
    }
}

/// How much a conversation has been used, and when.
public struct ConversationActivity: Sendable, Equatable {
    public var participants: Int
    /// Current votes: the latest of each participant on each statement.
    public var votes: Int
    /// Every vote event, changes included.
    public var voteEvents: Int
    /// The hours with any vote event or new participant, oldest first.
    public var hours: [ActivityHour]

    public init(participants: Int, votes: Int, voteEvents: Int, hours: [ActivityHour]) {
        self.participants = participants
        self.votes = votes
        self.voteEvents = voteEvents
        self.hours = hours
    }
}

/// Consecutive stored analyses that found the same number of opinion groups.
public struct GroupCountRun: Sendable, Equatable {
    public var groups: Int
    public var analyses: Int
    public var firstAt: Date
    public var lastAt: Date

    public init(groups: Int, analyses: Int, firstAt: Date, lastAt: Date) {
        self.groups = groups
        self.analyses = analyses
        self.firstAt = firstAt
        self.lastAt = lastAt
    }
}
