import CharterDomain
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

/// The participant's side of the demographic questions: asked once, on the conversation page
/// in place of the next statement, after the organiser's number of votes, with the consent text
/// and a skip button; afterwards a form deletes the answers. Plain forms with the page's CSRF
/// token, answered with a redirect back to the page.
struct ParticipantDemographics: Sendable {
    let services: AppServices

    var routes: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .post("{slug}/demographics", use: answer)
            .post("{slug}/demographics/delete", use: delete)
    }

    struct Choice {
        let value: String
        let label: String
        let id: String
    }

    struct Question {
        let key: String
        let name: String
        let text: String
        let choices: [Choice]
    }

    struct Answer {
        let question: String
        let answer: String
    }

    /// What the conversation page shows of the questions, in the participant's language.
    struct View {
        /// The questions to answer now (nil: not asked now).
        let ask: Ask?
        /// The participant's own answers, with the form that deletes them (nil: none kept).
        let answered: Answered?
    }

    struct Ask {
        let action: String
        let consent: String
        let questions: [Question]
    }

    struct Answered {
        let action: String
        let answers: [Answer]
    }

    /// Nil when the conversation asks nothing of this participant and keeps nothing of theirs.
    func view(
        conversation: Conversation, participantID: Int64?, voted: Int, closed: Bool, language: String,
        t: [String: String]
    ) async throws -> View? {
        let settings = try await services.store.demographics(conversationID: conversation.id)
        var response: DemographicResponse?
        // A conversation that asks nothing holds no answers (saving no questions deletes them):
        // its pages, the vote path's answers, read nothing more.
        guard settings.asks else { return nil }
        if let participantID { response = try await services.store.demographicResponse(participantID: participantID) }
        let fallback = conversation.settings.language
        func text(_ texts: [String: String]) -> String {
            DemographicsSettings.text(texts, language: language, fallback: fallback)
        }
        let base = "/c/\(conversation.slug)/demographics"
        var ask: Ask?
        if settings.asks, response == nil, !closed, voted >= settings.afterVotes {
            let preferNot = t["demographics_prefer_not"] ?? "Prefer not to say"
            ask = Ask(
                action: base,
                consent: settings.consent.isEmpty ? (t["demographics_consent_default"] ?? "") : settings.consent,
                questions: settings.questions.map { question in
                    let name = "q_\(question.key)"
                    return Question(
                        key: question.key, name: name, text: text(question.text),
                        choices: question.options.map {
                            Choice(value: $0.key, label: text($0.label), id: "\(name)_\($0.key)")
                        }
                            + [
                                Choice(
                                    value: DemographicsSettings.preferNotToSay, label: preferNot,
                                    id: "\(name)_\(DemographicsSettings.preferNotToSay)")
                            ])
                })
        }
        var answered: Answered?
        if let response, response.state == .answered, !response.answers.isEmpty {
            let preferNot = t["demographics_prefer_not"] ?? "Prefer not to say"
            answered = Answered(
                action: "\(base)/delete",
                answers: response.answers.sorted { $0.key < $1.key }.map { key, option in
                    guard let question = settings.question(key) else { return Answer(question: key, answer: option) }
                    let label =
                        option == DemographicsSettings.preferNotToSay
                        ? preferNot : question.options.first { $0.key == option }.map { text($0.label) } ?? option
                    return Answer(question: text(question.text), answer: label)
                })
        }
        guard ask != nil || answered != nil else { return nil }
        return View(ask: ask, answered: answered)
    }

    @Sendable func answer(_ request: Request, context: AppRequestContext) async throws -> Response {
        let conversation = try await services.conversation(context)
        let form = try await services.body.form(request)
        let resolved = try await services.identities.forForm(request, form: form, conversation: conversation)
        let settings = try await services.store.demographics(conversationID: conversation.id)
        let skip = form["action"] == "skip"
        var answers: [String: String] = [:]
        if !skip {
            for question in settings.questions {
                if let value = form["q_\(question.key)"], !value.isEmpty { answers[question.key] = value }
            }
        }
        let isNew =
            try await services.store.existingParticipant(conversationID: conversation.id, identity: resolved.identity)
            == nil
        if isNew { try services.limitNewParticipant(ip: context.remoteIP) }
        do {
            let response = try await services.store.recordDemographicResponse(
                conversationID: conversation.id, participant: resolved.identity, answers: answers, at: Date())
            if isNew { await services.recordOrigin(participantID: response.participantID, ip: context.remoteIP) }
            return ParticipantPages.redirect(
                conversation, resolved, done: response.state == .skipped ? "demographics-skipped" : "demographics")
        } catch CharterError.conflict {
            // Answered already (a second tap): the first answers stand.
            return ParticipantPages.redirect(conversation, resolved, done: "demographics")
        } catch CharterError.invalid(_, let message) {
            throw AppError.badRequest(message)
        }
    }

    @Sendable func delete(_ request: Request, context: AppRequestContext) async throws -> Response {
        let conversation = try await services.conversation(context)
        let form = try await services.body.form(request)
        let resolved = try await services.identities.forForm(request, form: form, conversation: conversation)
        if let participant = try await services.store.existingParticipant(
            conversationID: conversation.id, identity: resolved.identity)
        {
            _ = try await services.store.withdrawDemographicAnswers(
                conversationID: conversation.id, participantID: participant.id, at: Date())
        }
        return ParticipantPages.redirect(conversation, resolved, done: "demographics-deleted")
    }
}
