import CharterDomain
import Foundation

/// The conversation settings as the HTML form shows and sends them.
struct SettingsForm {
    let slug, title, question, description: String
    let isOpen: Bool
    let closesAt: String
    let participantStatementsAllowed, strictModeration, resultsPublic: Bool
    let maxStatementLength, minVotesBeforeSubmit: Int
    let completionThreshold: String
    let completionCode: String
    let xidPolicies: [Choice]
    let language: String

    struct Choice {
        let value, label: String
        let selected: Bool
    }

    static let dateFormat: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm"
        return f
    }()

    init(_ s: ConversationSettings) {
        slug = s.slug
        title = s.title
        question = s.question
        description = s.description
        isOpen = s.state == .open
        closesAt = s.closesAt.map { Self.dateFormat.string(from: $0) } ?? ""
        participantStatementsAllowed = s.participantStatementsAllowed
        strictModeration = s.strictModeration
        resultsPublic = s.resultsPublic
        maxStatementLength = s.maxStatementLength
        minVotesBeforeSubmit = s.minVotesBeforeSubmit
        completionThreshold = s.completionThreshold.map(String.init) ?? ""
        completionCode = s.completionCode ?? ""
        xidPolicies = XIDPolicy.allCases.map {
            Choice(value: $0.rawValue, label: $0.rawValue, selected: $0 == s.xidPolicy)
        }
        language = s.language
    }

    /// Reads the posted form over `base`. Checkboxes are absent when unticked, so they are
    /// read as false rather than left unchanged.
    static func parse(_ form: Form, base: ConversationSettings) throws -> ConversationSettings {
        var s = base
        s.slug = form["slug"] ?? s.slug
        s.title = form["title"] ?? s.title
        s.question = form["question"] ?? s.question
        s.description = form["description"] ?? s.description
        if let state = form["state"] {
            guard let parsed = ConversationState(rawValue: state) else {
                throw CharterError.invalid(field: "state", message: "state must be open or closed")
            }
            s.state = parsed
        }
        if let raw = form["closes_at"] {
            if raw.isEmpty {
                s.closesAt = nil
            } else {
                guard let date = dateFormat.date(from: raw) else {
                    throw CharterError.invalid(field: "closes_at", message: "closes at must look like 2026-12-31T18:00")
                }
                s.closesAt = date
            }
        }
        s.participantStatementsAllowed = form["participant_statements_allowed"] == "on"
        s.strictModeration = form["strict_moderation"] == "on"
        s.resultsPublic = form["results_public"] == "on"
        s.maxStatementLength = try number(form, "max_statement_length") ?? s.maxStatementLength
        s.minVotesBeforeSubmit = try number(form, "min_votes_before_submit") ?? s.minVotesBeforeSubmit
        if form["completion_threshold"] != nil { s.completionThreshold = try number(form, "completion_threshold") }
        if let code = form["completion_code"] { s.completionCode = code.isEmpty ? nil : code }
        if let language = form["language"], !language.isEmpty { s.language = language }
        if let policy = form["xid_policy"] {
            guard let parsed = XIDPolicy(rawValue: policy) else {
                throw CharterError.invalid(
                    field: "xid_policy", message: "panel ids must be open, bound, signed or allow-list")
            }
            s.xidPolicy = parsed
        }
        return s
    }

    private static func number(_ form: Form, _ name: String) throws -> Int? {
        guard let raw = form[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
        guard let value = Int(raw) else {
            throw CharterError.invalid(
                field: name, message: "\(name.replacingOccurrences(of: "_", with: " ")) must be a whole number")
        }
        return value
    }
}
