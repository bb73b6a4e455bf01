public import CharterDomain
public import CharterStore
public import Foundation

// Organisers' demographic questions and participants' answers.
extension PostgresStore {
    public func demographics(conversationID: Int64) async throws -> DemographicsSettings {
        try await readOne { sql in try await sql.demographics(conversationID: conversationID) }
    }

    public func setDemographics(conversationID: Int64, _ settings: DemographicsSettings, by actor: Actor) async throws
        -> DemographicsSettings
    {
        let settings = try settings.validated()
        return try await write { sql in
            guard try await sql.conversation(id: conversationID) != nil else {
                throw CharterError.notFound("Conversation")
            }
            // The upsert locks the row: a participant's answers, checked against the questions
            // under a share lock, wait for it and then meet the new questions.
            try await sql.execute(
                """
                INSERT INTO demographic_settings (conversation_id, questions, after_votes, consent, updated_at)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (conversation_id) DO UPDATE SET questions = excluded.questions,
                    after_votes = excluded.after_votes, consent = excluded.consent, updated_at = excluded.updated_at
                """, conversationID, DemographicsSettings.encode(settings.questions), Int32(settings.afterVotes),
                settings.consent, Date())
            var deleted = 0
            for row in try await sql.rows(
                "SELECT participant_id, question_key, option_key FROM demographic_answer WHERE conversation_id = ?",
                conversationID)
            {
                let question = try row.at(1, as: String.self)
                let option = try row.at(2, as: String.self)
                if (try? settings.validatedAnswers([question: option])) == nil {
                    try await sql.execute(
                        "DELETE FROM demographic_answer WHERE participant_id = ? AND question_key = ?",
                        try row.at(0, as: Int64.self), question)
                    deleted += 1
                }
            }
            try await sql.audit(
                actor, .conversationDemographics, conversationID: conversationID,
                detail: DemographicsAudit.detail(settings, deletedAnswers: deleted))
            return settings
        }
    }

    public func demographicResponse(participantID: Int64) async throws -> DemographicResponse? {
        try await read { sql in try await sql.demographicResponse(participantID: participantID) }
    }

    public func recordDemographicResponse(
        conversationID: Int64, participant identity: ParticipantIdentity, answers: [String: String], at now: Date
    ) async throws -> DemographicResponse {
        try await write { sql in
            guard let conversation = try await sql.conversation(id: conversationID) else {
                throw CharterError.notFound("Conversation")
            }
            guard conversation.isOpen(at: now) else { throw CharterError.conversationClosed }
            let settings = try await sql.demographics(conversationID: conversationID, lock: true)
            let answers = try settings.validatedAnswers(answers)
            let participant = try await sql.participantCreatingIfAbsent(
                conversationID: conversationID, identity: identity, at: now
            ).participant
            let state: DemographicResponseState = answers.isEmpty ? .skipped : .answered
            // Two answers racing: the second insert waits for the first and then does nothing.
            let inserted = try await sql.execute(
                """
                INSERT INTO demographic_response (participant_id, conversation_id, state, responded_at)
                VALUES (?, ?, ?, ?) ON CONFLICT (participant_id) DO NOTHING RETURNING participant_id
                """, participant.id, conversationID, state.rawValue, now)
            guard inserted == 1 else { throw CharterError.conflict("You have answered these questions already.") }
            let sorted = answers.sorted { $0.key < $1.key }
            if !sorted.isEmpty {
                try await sql.execute(
                    """
                    INSERT INTO demographic_answer (participant_id, question_key, option_key, conversation_id)
                    SELECT ?, u.q, u.o, ? FROM unnest(?::text[], ?::text[]) AS u(q, o)
                    """, participant.id, conversationID, sorted.map(\.key), sorted.map(\.value))
            }
            return DemographicResponse(participantID: participant.id, state: state, answers: answers, respondedAt: now)
        }
    }

    public func withdrawDemographicAnswers(conversationID: Int64, participantID: Int64, at now: Date) async throws
        -> Int
    {
        try await write { sql in
            guard
                try await sql.value(
                    Int64.self,
                    "SELECT conversation_id FROM demographic_response WHERE participant_id = ? FOR UPDATE",
                    participantID) == conversationID
            else { return 0 }
            let deleted = try await sql.execute(
                "DELETE FROM demographic_answer WHERE participant_id = ? AND conversation_id = ? RETURNING 1",
                participantID, conversationID)
            try await sql.execute(
                "UPDATE demographic_response SET state = ?, responded_at = ? WHERE participant_id = ?",
                DemographicResponseState.withdrawn.rawValue, now, participantID)
            return deleted
        }
    }

    public func demographicAnswers(conversationID: Int64) async throws -> [Int64: [String: String]] {
        try await readOne { sql in
            var answers: [Int64: [String: String]] = [:]
            for row in try await sql.rows(
                "SELECT participant_id, question_key, option_key FROM demographic_answer WHERE conversation_id = ?",
                conversationID)
            {
                answers[try row.at(0, as: Int64.self), default: [:]][try row.at(1, as: String.self)] = try row.at(
                    2, as: String.self)
            }
            return answers
        }
    }
}

extension SQLConnection {
    /// The conversation's questions; with `lock`, held under a share lock until the transaction
    /// ends, so they cannot change under the answers being checked against them.
    func demographics(conversationID: Int64, lock: Bool = false) async throws -> DemographicsSettings {
        guard
            let row = try await row(
                "SELECT questions, after_votes, consent FROM demographic_settings WHERE conversation_id = ?"
                    + (lock ? " FOR SHARE" : ""), conversationID)
        else { return DemographicsSettings() }
        return DemographicsSettings(
            questions: DemographicsSettings.decode(try row.at(0, as: String.self)),
            afterVotes: Int(try row.at(1, as: Int32.self)), consent: try row.at(2, as: String.self))
    }

    func demographicResponse(participantID: Int64) async throws -> DemographicResponse? {
        guard
            let row = try await row(
                "SELECT state, responded_at FROM demographic_response WHERE participant_id = ?", participantID)
        else { return nil }
        var answers: [String: String] = [:]
        for answer in try await rows(
            "SELECT question_key, option_key FROM demographic_answer WHERE participant_id = ?", participantID)
        {
            answers[try answer.at(0, as: String.self)] = try answer.at(1, as: String.self)
        }
        return DemographicResponse(
            participantID: participantID,
            state: DemographicResponseState(rawValue: try row.at(0, as: String.self)) ?? .skipped, answers: answers,
            respondedAt: try row.at(1, as: Date.self))
    }
}
