public import CharterDomain
public import CharterStore
public import Foundation
import GRDB

// Organisers' demographic questions and participants' answers.
extension SQLiteStore {
    public func demographics(conversationID: Int64) async throws -> DemographicsSettings {
        try await pool.read { db in try Self.fetchDemographics(db, conversationID: conversationID) }
    }

    static func fetchDemographics(_ db: Database, conversationID: Int64) throws -> DemographicsSettings {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT questions, after_votes, consent FROM demographic_settings WHERE conversation_id = ?",
                arguments: [conversationID])
        else { return DemographicsSettings() }
        return DemographicsSettings(
            questions: DemographicsSettings.decode(row[0]), afterVotes: row[1], consent: row[2])
    }

    public func setDemographics(conversationID: Int64, _ settings: DemographicsSettings, by actor: Actor) async throws
        -> DemographicsSettings
    {
        let settings = try settings.validated()
        return try await write { db in
            guard try Self.fetchConversation(db, id: conversationID) != nil else {
                throw CharterError.notFound("Conversation")
            }
            try db.execute(
                sql: """
                    INSERT INTO demographic_settings (conversation_id, questions, after_votes, consent, updated_at)
                    VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (conversation_id) DO UPDATE SET questions = excluded.questions,
                        after_votes = excluded.after_votes, consent = excluded.consent, updated_at = excluded.updated_at
                    """,
                arguments: [
                    conversationID, DemographicsSettings.encode(settings.questions), settings.afterVotes,
                    settings.consent, Date(),
                ])
            // Answers to what is no longer asked go: nobody gave them to the new questions.
            var deleted = 0
            let answers = try Row.fetchAll(
                db,
                sql:
                    "SELECT participant_id, question_key, option_key FROM demographic_answer WHERE conversation_id = ?",
                arguments: [conversationID])
            for row in answers {
                let question: String = row[1]
                let option: String = row[2]
                if (try? settings.validatedAnswers([question: option])) == nil {
                    try db.execute(
                        sql: "DELETE FROM demographic_answer WHERE participant_id = ? AND question_key = ?",
                        arguments: [row[0] as Int64, question])
                    deleted += 1
                }
            }
            try Self.audit(
                db, actor, .conversationDemographics, conversationID: conversationID,
                detail: DemographicsAudit.detail(settings, deletedAnswers: deleted))
            return settings
        }
    }

    public func demographicResponse(participantID: Int64) async throws -> DemographicResponse? {
        try await pool.read { db in try Self.fetchDemographicResponse(db, participantID: participantID) }
    }

    static func fetchDemographicResponse(_ db: Database, participantID: Int64) throws -> DemographicResponse? {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT state, responded_at FROM demographic_response WHERE participant_id = ?",
                arguments: [participantID])
        else { return nil }
        var answers: [String: String] = [:]
        for answer in try Row.fetchAll(
            db, sql: "SELECT question_key, option_key FROM demographic_answer WHERE participant_id = ?",
            arguments: [participantID])
        {
            answers[answer[0]] = answer[1]
        }
        return DemographicResponse(
            participantID: participantID, state: DemographicResponseState(rawValue: row[0]) ?? .skipped,
            answers: answers, respondedAt: row[1])
    }

    public func recordDemographicResponse(
        conversationID: Int64, participant identity: ParticipantIdentity, answers: [String: String], at now: Date
    ) async throws -> DemographicResponse {
        try await write { db in
            guard let conversation = try Self.fetchConversation(db, id: conversationID) else {
                throw CharterError.notFound("Conversation")
            }
            guard conversation.isOpen(at: now) else { throw CharterError.conversationClosed }
            let settings = try Self.fetchDemographics(db, conversationID: conversationID)
            let answers = try settings.validatedAnswers(answers)
            let participant =
                try Self.fetchParticipant(db, conversationID: conversationID, identity: identity)
                ?? Self.insertParticipant(db, conversationID: conversationID, identity: identity, at: now)
            guard try Self.fetchDemographicResponse(db, participantID: participant.id) == nil else {
                throw CharterError.conflict("You have answered these questions already.")
            }
            let state: DemographicResponseState = answers.isEmpty ? .skipped : .answered
            try db.execute(
                sql: """
                    INSERT INTO demographic_response (participant_id, conversation_id, state, responded_at)
                    VALUES (?, ?, ?, ?)
                    """, arguments: [participant.id, conversationID, state.rawValue, now])
            for (question, option) in answers.sorted(by: { $0.key < $1.key }) {
                try db.execute(
                    sql: """
                        INSERT INTO demographic_answer (participant_id, question_key, option_key, conversation_id)
                        VALUES (?, ?, ?, ?)
                        """, arguments: [participant.id, question, option, conversationID])
            }
            return DemographicResponse(participantID: participant.id, state: state, answers: answers, respondedAt: now)
        }
    }

    public func withdrawDemographicAnswers(conversationID: Int64, participantID: Int64, at now: Date) async throws
        -> Int
    {
        try await write { db in
            guard
                try Int64.fetchOne(
                    db, sql: "SELECT conversation_id FROM demographic_response WHERE participant_id = ?",
                    arguments: [participantID]) == conversationID
            else { return 0 }
            try db.execute(
                sql: "DELETE FROM demographic_answer WHERE participant_id = ? AND conversation_id = ?",
                arguments: [participantID, conversationID])
            let deleted = db.changesCount
            try db.execute(
                sql: "UPDATE demographic_response SET state = ?, responded_at = ? WHERE participant_id = ?",
                arguments: [DemographicResponseState.withdrawn.rawValue, now, participantID])
            return deleted
        }
    }

    public func demographicAnswers(conversationID: Int64) async throws -> [Int64: [String: String]] {
        try await pool.read { db in
            var answers: [Int64: [String: String]] = [:]
            for row in try Row.fetchAll(
                db,
                sql:
                    "SELECT participant_id, question_key, option_key FROM demographic_answer WHERE conversation_id = ?",
                arguments: [conversationID])
            {
                answers[row[0], default: [:]][row[1]] = row[2]
            }
            return answers
        }
    }
}
