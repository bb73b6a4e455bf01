import CharterDomain
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Organisers' demographic questions: `GET`/`PUT /api/v1/conversations/{slug}/demographics` and
/// the admin page `/admin/conversations/{slug}/demographics`. The participant's side (asked once,
/// skip, delete my answers) is `ParticipantDemographics`.
struct DemographicsRoutes: Sendable {
    let services: AppServices

    /// A conversation's moderators read the questions.
    var apiReaderRoutes: RouteCollection<ConversationContext> {
        RouteCollection(context: ConversationContext.self)
            .get("conversations/{slug}/demographics", use: get)
    }

    /// Its owners change them.
    var apiOwnerRoutes: RouteCollection<ConversationContext> {
        RouteCollection(context: ConversationContext.self)
            .put("conversations/{slug}/demographics", use: put)
    }

    var moderatorPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .get("conversations/{slug}/demographics", use: page)
    }

    var ownerPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .post("conversations/{slug}/demographics", use: save)
    }

    // MARK: API

    /// The wire shape, with its own keys: option keys and language tags are data, so no key
    /// strategy may touch them.
    struct Body: Codable {
        struct Option: Codable {
            var key: String
            var label: [String: String]
        }

        struct Question: Codable {
            var key: String
            var text: [String: String]
            var options: [Option]
            var targets: [String: Double]?
        }

        var afterVotes: Int?
        var consent: String?
        var questions: [Question]

        enum CodingKeys: String, CodingKey {
            case afterVotes = "after_votes"
            case consent, questions
        }

        /// `after_votes` and `consent` may be left out, but not sent as null.
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            afterVotes = c.contains(.afterVotes) ? try c.decode(Int.self, forKey: .afterVotes) : nil
            consent = c.contains(.consent) ? try c.decode(String.self, forKey: .consent) : nil
            questions = try c.decode([Question].self, forKey: .questions)
        }

        init(_ settings: DemographicsSettings) {
            afterVotes = settings.afterVotes
            consent = settings.consent
            questions = settings.questions.map { q in
                Question(
                    key: q.key, text: q.text, options: q.options.map { Option(key: $0.key, label: $0.label) },
                    targets: q.targets)
            }
        }

        var settings: DemographicsSettings {
            DemographicsSettings(
                questions: questions.map { q in
                    DemographicQuestion(
                        key: q.key, text: q.text,
                        options: q.options.map { DemographicOption(key: $0.key, label: $0.label) }, targets: q.targets)
                }, afterVotes: afterVotes ?? DemographicsSettings.defaultAfterVotes, consent: consent ?? "")
        }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func json(_ settings: DemographicsSettings) throws -> Response {
        Response.json(encoded: ByteBuffer(bytes: try encoder.encode(Body(settings))))
    }

    @Sendable func get(_ request: Request, context: ConversationContext) async throws -> Response {
        try Self.json(try await services.store.demographics(conversationID: context.conversation.id))
    }

    @Sendable func put(_ request: Request, context: ConversationContext) async throws -> Response {
        if request.headers[.contentType] != nil, request.mediaType != "application/json" {
            throw AppError(
                .unsupportedMediaType, code: "unsupported_media_type", message: "Send the body as application/json.")
        }
        let buffer = try await services.body.bytes(request)
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw AppError.badRequest("The JSON body is malformed: \(RequestBodyReader.describe(error))")
        }
        do {
            let saved = try await services.store.setDemographics(
                conversationID: context.conversation.id, body.settings, by: Actor(context.organiser))
            return try Self.json(saved)
        } catch CharterError.invalid(_, let message) {
            // Questions that cannot be asked are a malformed request, said precisely.
            throw AppError(.badRequest, code: "invalid", message: message)
        }
    }

    // MARK: Admin page

    struct TextLine {
        let language, text: String
    }

    struct OptionRow {
        let key: String
        let labels: [TextLine]
        let target: String?
    }

    struct QuestionBlock {
        let index: Int
        let number: Int
        let isNew: Bool
        let key, text, options, targets: String
        let summaryTexts: [TextLine]
        let summaryOptions: [OptionRow]
        let hasTargets: Bool
    }

    struct PageView: PageTemplate {
        static let template = "admin_demographics"
        let organiserEmail, csrf, slug, title: String
        let notice, error: String?
        let isOwner: Bool
        let language: String
        let afterVotes: Int
        let consent: String
        let defaultConsent: String
        /// The questions as stored, and the form's blocks (the submitted ones after an error).
        let questions: [QuestionBlock]
        let blocks: [QuestionBlock]
        let blockCount: Int
        let hasQuestions: Bool
        let preferNotToSay: String
    }

    @Sendable func page(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let settings = try await services.store.demographics(conversationID: context.conversation.id)
        let notice = request.query["done"] == "saved" ? "Demographic questions saved." : nil
        return render(context, settings: settings, draft: nil, notice: notice)
    }

    @Sendable func save(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let conversation = context.conversation
        let draft = DemographicsForm.Draft(form)
        do {
            let settings = try DemographicsForm.parse(draft, language: conversation.settings.language)
            _ = try await services.store.setDemographics(
                conversationID: conversation.id, settings, by: Actor(context.organiser))
            return Response.seeOther("/admin/conversations/\(conversation.slug)/demographics?done=saved")
        } catch let error as CharterError {
            let settings = try await services.store.demographics(conversationID: conversation.id)
            return render(
                context, settings: settings, draft: draft, error: error.message, status: AppError(error).status)
        }
    }

    private func render(
        _ context: AdminConversationContext, settings: DemographicsSettings, draft: DemographicsForm.Draft?,
        notice: String? = nil, error: String? = nil, status: HTTPResponse.Status = .ok
    ) -> Response {
        let conversation = context.conversation
        let language = conversation.settings.language
        let stored = settings.questions.enumerated().map { index, question in
            let written = DemographicsForm.written(question, language: language)
            return QuestionBlock(
                index: index, number: index + 1, isNew: false, key: question.key, text: written.text,
                options: written.options, targets: written.targets, summaryTexts: Self.lines(question.text),
                summaryOptions: question.options.map { option in
                    OptionRow(
                        key: option.key, labels: Self.lines(option.label),
                        target: question.targets.map { DemographicsForm.percent($0[option.key] ?? 0) })
                }, hasTargets: question.targets != nil)
        }
        var blocks = stored
        if let draft {
            blocks = draft.blocks.enumerated().map { index, block in
                QuestionBlock(
                    index: index, number: index + 1, isNew: block.isNew, key: block.key, text: block.text,
                    options: block.options, targets: block.targets, summaryTexts: [], summaryOptions: [],
                    hasTargets: false)
            }
        } else if blocks.count < DemographicsSettings.maximumQuestions {
            blocks.append(
                QuestionBlock(
                    index: blocks.count, number: blocks.count + 1, isNew: true, key: "", text: "", options: "",
                    targets: "", summaryTexts: [], summaryOptions: [], hasTargets: false))
        }
        let view = PageView(
            organiserEmail: context.organiser.email, csrf: context.csrf, slug: conversation.slug,
            title: conversation.settings.title, notice: notice, error: error, isOwner: context.role == .owner,
            language: language, afterVotes: draft?.afterVotes.flatMap { Int($0) } ?? settings.afterVotes,
            consent: draft?.consent ?? settings.consent,
            defaultConsent: services.views.catalogue.fallback.text("demographics_consent_default"), questions: stored,
            blocks: blocks, blockCount: blocks.count, hasQuestions: !settings.questions.isEmpty,
            preferNotToSay: DemographicsSettings.preferNotToSay)
        return services.views.page(title: "Demographic questions", view, status: status, admin: true)
    }

    static func lines(_ texts: [String: String]) -> [TextLine] {
        texts.sorted { $0.key < $1.key }.map { TextLine(language: $0.key, text: $0.value) }
    }
}

/// The admin form's plain-text way of writing questions, which works without JavaScript: one
/// block of fields per question. A text is written in the conversation's language, with
/// translations after `[de]`, `[fr]`…; options one per line, `key: label [de] label`; target
/// shares one per line, `key: 21%`.
enum DemographicsForm {
    struct Block {
        var key, text, options, targets: String
        var remove: Bool
        var isNew: Bool
    }

    /// The form as submitted, kept to show again with an error.
    struct Draft {
        var afterVotes: String?
        var consent: String
        var blocks: [Block]

        init(_ form: Form) {
            afterVotes = form["after_votes"]
            consent = form["consent"] ?? ""
            let count = min(max(Int(form["count"] ?? "") ?? 0, 0), DemographicsSettings.maximumQuestions + 1)
            blocks = (0..<count).map { i in
                Block(
                    key: form["q\(i)_key"] ?? "", text: form["q\(i)_text"] ?? "", options: form["q\(i)_options"] ?? "",
                    targets: form["q\(i)_targets"] ?? "", remove: form["q\(i)_remove"] == "on",
                    isNew: form["q\(i)_new"] == "1")
            }
        }
    }

    static func parse(_ draft: Draft, language: String) throws(CharterError) -> DemographicsSettings {
        let raw = draft.afterVotes?.trimmingCharacters(in: .whitespaces) ?? ""
        guard let afterVotes = raw.isEmpty ? DemographicsSettings.defaultAfterVotes : Int(raw) else {
            throw .invalid(
                field: "after_votes", message: "“Ask after” must be a whole number of votes from 0 to 10000.")
        }
        var questions: [DemographicQuestion] = []
        for (index, block) in draft.blocks.enumerated() where !block.remove {
            let blank = [block.key, block.text, block.options, block.targets].allSatisfy {
                $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            }
            if blank { continue }
            let key = block.key.trimmingCharacters(in: .whitespaces).lowercased()
            let name = key.isEmpty ? "Question \(index + 1)" : "The question “\(key)”"
            let text = try texts(block.text, language: language, what: name)
            var options: [DemographicOption] = []
            for line in lines(block.options) {
                let (optionKey, label) = try option(line, language: language, question: name)
                options.append(DemographicOption(key: optionKey, label: label))
            }
            var targets: [String: Double] = [:]
            for line in lines(block.targets) {
                guard let colon = line.firstIndex(of: ":") else {
                    throw .invalid(
                        field: "targets",
                        message: "\(name): write each target as “option: share”, such as “north: 21%”.")
                }
                let optionKey = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                guard let share = share(String(line[line.index(after: colon)...])) else {
                    throw .invalid(
                        field: "targets",
                        message: "\(name): the target of “\(optionKey)” must be a share such as 21% or 0.21.")
                }
                targets[optionKey] = share
            }
            questions.append(
                DemographicQuestion(key: key, text: text, options: options, targets: targets.isEmpty ? nil : targets))
        }
        return try DemographicsSettings(questions: questions, afterVotes: afterVotes, consent: draft.consent)
            .validated()
    }

    static func lines(_ text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// `text [de] Text [fr] texte`: the first part in `language`, then each marked translation.
    static func texts(_ raw: String, language: String, what: String) throws(CharterError) -> [String: String] {
        var out: [String: String] = [:]
        var current = language
        var buffer = ""
        func flush() throws(CharterError) {
            let text = buffer.split(whereSeparator: \.isNewline).joined(separator: " ")
                .trimmingCharacters(in: .whitespaces)
            buffer = ""
            guard !text.isEmpty else { return }
            guard out[current] == nil else {
                throw .invalid(field: "questions", message: "\(what) has two texts in [\(current)].")
            }
            out[current] = text
        }
        var rest = Substring(raw)
        while let open = rest.firstIndex(of: "[") {
            guard let close = rest[open...].firstIndex(of: "]") else { break }
            let tag = rest[rest.index(after: open)..<close].trimmingCharacters(in: .whitespaces).lowercased()
            if LanguageCode.isValid(tag) {
                buffer += rest[..<open]
                try flush()
                current = tag
            } else {
                buffer += rest[...close]
            }
            rest = rest[rest.index(after: close)...]
        }
        buffer += rest
        try flush()
        return out
    }

    /// `key: label [de] Label`; without a key, the key is made from the label.
    static func option(_ line: String, language: String, question: String) throws(CharterError) -> (
        String, [String: String]
    ) {
        var key: String
        var label: String
        if let colon = line.firstIndex(of: ":"),
            DemographicsSettings.isValidKey(line[..<colon].trimmingCharacters(in: .whitespaces).lowercased())
        {
            key = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            label = String(line[line.index(after: colon)...])
        } else {
            label = line
            let first = (try? texts(line, language: language, what: question))?[language] ?? line
            key = String(
                first.lowercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "-" }
                    .split(separator: "-").joined(separator: "-").prefix(40))
            if key.isEmpty {
                throw .invalid(
                    field: "questions",
                    message: "\(question): give the option “\(line.prefix(40))” a key, as “key: label”.")
            }
        }
        let labels = try texts(label, language: language, what: "\(question), option “\(key)”,")
        return (key, labels.isEmpty ? [language: key] : labels)
    }

    /// `21%`, `0.21` or `21` (a number over 1 is a percentage).
    static func share(_ raw: String) -> Double? {
        var text = raw.trimmingCharacters(in: .whitespaces)
        var percent = false
        if text.hasSuffix("%") {
            percent = true
            text = String(text.dropLast()).trimmingCharacters(in: .whitespaces)
        }
        guard let value = Double(text.replacingOccurrences(of: ",", with: ".")), value.isFinite, value >= 0 else {
            return nil
        }
        return percent || value > 1 ? value / 100 : value
    }

    static func percent(_ share: Double) -> String {
        let value = share * 100
        return value == value.rounded() ? "\(Int(value))%" : String(format: "%.2f%%", value)
    }

    /// A stored question written back into the form's fields.
    static func written(_ question: DemographicQuestion, language: String) -> (
        text: String, options: String, targets: String
    ) {
        func inline(_ texts: [String: String]) -> String {
            var parts: [String] = []
            if let own = texts[language] { parts.append(own) }
            for (code, text) in texts.sorted(by: { $0.key < $1.key }) where code != language {
                parts.append("[\(code)] \(text)")
            }
            return parts.joined(separator: " ")
        }
        let options = question.options.map { "\($0.key): \(inline($0.label))" }.joined(separator: "\n")
        let targets =
            question.targets.map { targets in
                question.optionKeys.compactMap { key in targets[key].map { "\(key): \(percent($0))" } }
                    .joined(separator: "\n")
            } ?? ""
        return (inline(question.text), options, targets)
    }
}
