import CharterDomain
import CharterServices
import CharterStore
import Foundation

// The overview at the top of a conversation's page: how many took part, what waits for the
// organiser, activity over time and how settled the opinion groups are.
extension AdminPages {
    struct Overview {
        let participants, votes, voteEvents: String
        let changedVotes: Bool
        let accepted, pending, rejected, meta: Int
        let flagged: Int
        let hasPending, hasFlagged, hasMeta: Bool
        let groups: String
        let groupHistory: [String]
        let hasGroupHistory: Bool
        let pendingText, flaggedText: String
        let hasActivity: Bool
        let unit: String
        let votesChart, participantsChart: String
        let rows: [ActivityRow]
    }

    struct ActivityRow {
        let label, votes, participants: String
    }

    static let overviewHistoryRuns = 6

    func overview(_ conversation: Conversation, pending: Int, flagged: Int) async throws -> Overview {
        let store = services.store
        let activity = try await store.activity(conversationID: conversation.id)
        func count(_ filter: StatementFilter) async throws -> Int {
            var filter = filter
            filter.limit = 1
            return try await store.statements(conversationID: conversation.id, filter: filter).total
        }
        let accepted = try await count(StatementFilter(moderation: .accepted))
        let rejected = try await count(StatementFilter(moderation: .rejected))
        let meta = try await count(StatementFilter(isMeta: true))
        let history = try await store.groupCountHistory(
            conversationID: conversation.id, limit: Self.overviewHistoryRuns + 1)
        let chart = ActivityChart(hours: activity.hours)
        return Overview(
            participants: ActivityChart.number(activity.participants), votes: ActivityChart.number(activity.votes),
            voteEvents: ActivityChart.number(activity.voteEvents), changedVotes: activity.voteEvents > activity.votes,
            accepted: accepted, pending: pending, rejected: rejected, meta: meta, flagged: flagged,
            hasPending: pending > 0, hasFlagged: flagged > 0, hasMeta: meta > 0,
            groups: Self.groupsText(history),
            groupHistory: history.dropFirst().prefix(Self.overviewHistoryRuns).map {
                "\(ActivityChart.count($0.groups, "group")) in \(ActivityChart.count($0.analyses, "analysis", plural: "analyses")), \(Self.when($0.firstAt)) to \(Self.when($0.lastAt))"
            },
            hasGroupHistory: history.count > 1,
            pendingText: ActivityChart.count(pending, "pending statement"),
            flaggedText: ActivityChart.count(flagged, "flagged participant"), hasActivity: !chart.buckets.isEmpty,
            unit: chart.unit.name,
            votesChart: chart.votesSVG(id: "votes-chart"),
            participantsChart: chart.participantsSVG(id: "participants-chart"),
            rows: chart.buckets.map {
                ActivityRow(
                    label: chart.label($0, long: true), votes: ActivityChart.number($0.votes),
                    participants: ActivityChart.number($0.participants))
            })
    }

    /// "3 opinion groups, unchanged in the last 12 analyses (since 3 Mar 14:05 UTC); before: 2."
    static func groupsText(_ history: [GroupCountRun]) -> String {
        guard let current = history.first else {
            return "No analysis has counted the opinion groups yet; it runs in the background once there are votes."
        }
        let analyses = ActivityChart.count(current.analyses, "analysis", plural: "analyses")
        let groups =
            current.groups < 2
            ? "No opinion groups yet (too few participants or votes to tell groups apart)"
            : ActivityChart.count(current.groups, "opinion group")
        guard let before = history.dropFirst().first else {
            return current.analyses == 1
                ? "\(groups) in the first analysis (\(when(current.firstAt)))."
                : "\(groups) in all \(analyses) so far (since \(when(current.firstAt)))."
        }
        if current.analyses == 1 {
            return "\(groups) in the latest analysis (\(when(current.firstAt))), changed from \(before.groups)."
        }
        return
            "\(groups), unchanged in the last \(analyses) (since \(when(current.firstAt))); before: \(before.groups)."
    }

    /// "3 Mar 14:05 UTC".
    static func when(_ date: Date) -> String {
        let parts = ActivityChart.calendar.dateComponents([.hour, .minute], from: date)
        let hour = parts.hour ?? 0
        let minute = parts.minute ?? 0
        return "\(ActivityChart.day(date)) \(hour < 10 ? "0" : "")\(hour):\(minute < 10 ? "0" : "")\(minute) UTC"
    }
}

extension ActivityChart {
    /// "1 analysis", "2 analyses".
    static func count(_ value: Int, _ noun: String, plural: String) -> String {
        "\(number(value)) \(value == 1 ? noun : plural)"
    }
}
