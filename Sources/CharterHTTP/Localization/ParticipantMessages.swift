import CharterDomain

extension Language {
    /// A refusal as a participant reads it, in this language: the catalogue's `error_<code>`
    /// text where it has one, the English message otherwise (an organiser-only refusal).
    func message(for error: AppError, statementText: String? = nil, maxLength: Int = 0) -> String {
        if error.code == "invalid", error.textValues["field"] == "text", let statementText,
            let problem = StatementText.problem(statementText, maxLength: maxLength)
        {
            switch problem {
            case .empty: return text("error_statement_empty")
            case .controlCharacters: return text("error_statement_control")
            case .tooLong(let characters, let limit):
                if let characters {
                    return text("error_statement_too_long", ["length": String(characters), "limit": String(limit)])
                }
                return text("error_statement_far_too_long", ["limit": String(limit)])
            }
        }
        // English pages keep the server's own message, which names what was not found and why.
        if code == Catalogue.fallbackCode { return error.message }
        let key = "error_\(error.code)"
        if let n = error.textValues["count"].flatMap({ Int($0) }), texts["\(key)_other"] != nil {
            return count(key, n)
        }
        if texts[key] != nil { return text(key) }
        return error.message
    }
}
