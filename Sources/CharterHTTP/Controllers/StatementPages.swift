import CharterCompiler
import CharterDomain
import CharterMath
import CharterServices
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

/// One statement for its conversation's moderators: its votes by opinion group, its GAC and
/// CCAI score over time, and its moderation history.
struct StatementPages: Sendable {
    let services: AppServices

    var moderatorPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .get("conversations/{slug}/statements/{statement}", use: page)
            .post("conversations/{slug}/statements/{statement}/language", use: setLanguage)
            .post("conversations/{slug}/statements/{statement}/translations", use: setTranslation)
            .post("conversations/{slug}/statements/{statement}/translations/delete", use: deleteTranslation)
    }

    struct GroupRow {
        let label, agree, disagree, pass, agreeShare, exact: String
        let votes: Int
    }

    struct HistoryRow {
        let hour, gac, gacExact, ccai, ccaiExact: String
        let votes: Int
    }

    struct AuditRow {
        let when, actor, action, detail: String
    }

    struct TranslationRow {
        let language, text, updated: String
    }

    struct View: PageTemplate {
        static let template = "admin_statement"
        let organiserEmail, csrf, slug, title: String
        let id: Int64
        let text: String
        let originalText: String?
        let rewordedFrom: Int64?
        let author, state, created: String
        let reason: String?
        let analysed: Bool
        let totals: GroupRow?
        let groups: [GroupRow]
        let gac, gacExact, ccai, ccaiExact: String
        let gacExplanation, ccaiExplanation: String
        let chart: String
        let hasHistory: Bool
        let history: [HistoryRow]
        let audit: [AuditRow]
        /// The language it is written in, and whether that is the conversation's by default.
        let language: String
        let languageIsConversations: Bool
        let conversationLanguage: String
        let translations: [TranslationRow]
        let notice, error: String?
        /// What the translation form sends again after a refusal.
        let draftLanguage, draftText: String
        let maxLength: Int
    }

    /// What a form did, as the `done=` value of the redirect back to the page.
    static let notices = [
        "language": "The statement's language was saved.",
        "translated": "The translation was saved.",
        "deleted": "The translation was deleted.",
        "unchanged": "Nothing to delete: the statement has no translation into that language.",
    ]

    /// The statement the route's `{statement}` names in the route's conversation, or 404.
    func statement(_ context: AdminConversationContext) async throws -> Statement {
        guard let raw = context.parameters.get("statement"), let id = Int64(raw), id > 0 else {
            throw AppError.badRequest("A statement is named by its number, e.g. /statements/12.")
        }
        guard let statement = try await services.store.statement(id: id),
            statement.conversationID == context.conversation.id
        else { throw CharterError.notFound("Statement") }
        return statement
    }

    @Sendable func page(_ request: Request, context: AdminConversationContext) async throws -> Response {
        try await render(
            context, statement: try await statement(context),
            notice: request.query["done"].flatMap { Self.notices[$0] })
    }

    func render(
        _ context: AdminConversationContext, statement: Statement, notice: String? = nil, error: AppError? = nil,
        draftLanguage: String = "", draftText: String = ""
    ) async throws -> Response {
        let conversation = context.conversation
        let id = statement.id

        var stats: AnalysisResult.StatementStats?
        if let stored = try await services.store.latestAnalysis(conversationID: conversation.id),
            let result = try? ConversationAnalysis.decode(stored)
        {
            stats = result.statements.first { $0.id == id }
        }
        func row(_ label: String, _ agree: Int, _ disagree: Int, _ votes: Int) -> GroupRow {
            let share = votes == 0 ? nil : Double(agree) / Double(votes)
            return GroupRow(
                label: label, agree: String(agree), disagree: String(disagree), pass: String(votes - agree - disagree),
                agreeShare: ReadableNumbers.percent(share),
                exact: share.map { "\(agree) of \(votes) agree (\($0))" } ?? "no votes", votes: votes)
        }
        let groups = (stats?.groupVotes ?? []).enumerated().map { index, votes in
            row("Group \(ConstitutionCompiler.groupLetter(index))", votes.agree, votes.disagree, votes.votes)
        }
        let totals = stats.map { row("Everyone", $0.agree, $0.disagree, $0.votes) }
        let history = try await services.store.statementScoreHistory(statementID: id, limit: 24 * 14)
        let audit = try await services.store.auditLog(statementID: id, limit: 100)
        let translations = try await services.store.translations(statementID: id)
        let formatter = ISO8601DateFormatter()
        let measures = Dictionary(uniqueKeysWithValues: AnalysisRoutes.measures.map { ($0.name, $0.explanation) })
        let view = View(
            organiserEmail: context.organiser.email, csrf: context.csrf, slug: conversation.slug,
            title: conversation.settings.title, id: id, text: statement.text, originalText: statement.originalText,
            rewordedFrom: statement.rewordedFrom,
            author: statement.authorID.map { "participant \($0)" }
                ?? (statement.isSeed ? "seed (organiser)" : "organiser"),
            state: statement.isMeta ? "\(statement.moderation.rawValue), meta" : statement.moderation.rawValue,
            created: formatter.string(from: statement.createdAt), reason: statement.reason,
            analysed: stats != nil, totals: totals, groups: groups,
            gac: ReadableNumbers.significant(stats?.gac), gacExact: ReadableNumbers.exact(stats?.gac),
            ccai: ReadableNumbers.significant(stats?.ccaiAgreeProduct),
            ccaiExact: ReadableNumbers.exact(stats?.ccaiAgreeProduct),
            gacExplanation: measures["GAC"] ?? "", ccaiExplanation: measures["CCAI score"] ?? "",
            chart: ScoreHistoryChart.svg(history), hasHistory: !history.isEmpty,
            history: history.reversed().map {
                HistoryRow(
                    hour: formatter.string(from: $0.hour), gac: ReadableNumbers.significant($0.gac),
                    gacExact: ReadableNumbers.exact($0.gac), ccai: ReadableNumbers.significant($0.ccai),
                    ccaiExact: ReadableNumbers.exact($0.ccai), votes: $0.votes)
            },
            audit: audit.map {
                AuditRow(
                    when: formatter.string(from: $0.createdAt), actor: $0.actor, action: $0.action, detail: $0.detail)
            },
            language: statement.language(in: conversation), languageIsConversations: statement.language == nil,
            conversationLanguage: conversation.settings.language,
            translations: translations.map {
                TranslationRow(language: $0.language, text: $0.text, updated: formatter.string(from: $0.updatedAt))
            },
            notice: notice, error: error?.message, draftLanguage: draftLanguage, draftText: draftText,
            maxLength: conversation.settings.maxStatementLength)
        return services.views.page(title: "Statement \(id)", view, status: error?.status ?? .ok, admin: true)
    }
}

/// GAC and CCAI score over time as a line chart: SVG with presentation attributes only (the CSP
/// allows no inline styles), numbered axes, every text escaped (there is none from users).
enum ScoreHistoryChart {
    static func svg(_ points: [StatementScorePoint]) -> String {
        guard !points.isEmpty else { return "" }
        let width = 640.0
        let height = 240.0
        let left = 44.0
        let right = 12.0
        let top = 28.0
        let bottom = 36.0
        let first = points[0].hour.timeIntervalSince1970
        let last = points[points.count - 1].hour.timeIntervalSince1970
        let span = max(last - first, 3600)
        func x(_ date: Date) -> Double { left + (date.timeIntervalSince1970 - first) / span * (width - left - right) }
        func y(_ value: Double) -> Double { top + (1 - min(max(value, 0), 1)) * (height - top - bottom) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var out =
            ##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \##(Int(width)) \##(Int(height))" role="img" aria-labelledby="score-history-title"><title id="score-history-title">GAC and CCAI score by hour, from 0 to 1</title>"##
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            out +=
                ##"<line x1="\##(f(left))" x2="\##(f(width - right))" y1="\##(f(y(tick)))" y2="\##(f(y(tick)))" stroke="#dde1e6"/><text x="\##(f(left - 6))" y="\##(f(y(tick) + 4))" text-anchor="end" font-size="11" fill="#444">\##(String(format: "%.2f", tick))</text>"##
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = span > 3 * 86400 ? "d MMM" : "d MMM HH:mm"
        let ticks = min(points.count, 5)
        for index in 0..<ticks {
            let point = points[ticks == 1 ? 0 : index * (points.count - 1) / (ticks - 1)]
            out +=
                ##"<text x="\##(f(x(point.hour)))" y="\##(f(height - bottom + 16))" text-anchor="middle" font-size="11" fill="#444">\##(formatter.string(from: point.hour)) UTC</text>"##
        }
        for (series, color, dash, value) in [
            ("GAC", "#1f77b4", "", { (p: StatementScorePoint) in p.gac }),
            ("CCAI score", "#d62728", ##" stroke-dasharray="5 3""##, { (p: StatementScorePoint) in p.ccai }),
        ] {
            let path = points.map { "\(f(x($0.hour))),\(f(y(value($0))))" }.joined(separator: " ")
            out += ##"<polyline points="\##(path)" fill="none" stroke="\##(color)" stroke-width="2"\##(dash)/>"##
            for p in points {
                out +=
                    ##"<circle cx="\##(f(x(p.hour)))" cy="\##(f(y(value(p))))" r="3" fill="\##(color)"><title>\##(series) \##(ReadableNumbers.significant(value(p)))</title></circle>"##
            }
        }
        // The legend sits above the plot, clear of the axes' labels.
        out +=
            ##"<line x1="\##(f(left))" x2="\##(f(left + 18))" y1="12" y2="12" stroke="#1f77b4" stroke-width="2"/><text x="\##(f(left + 22))" y="16" font-size="12" fill="#222">GAC</text>"##
        out +=
            ##"<line x1="\##(f(left + 70))" x2="\##(f(left + 88))" y1="12" y2="12" stroke="#d62728" stroke-width="2" stroke-dasharray="5 3"/><text x="\##(f(left + 92))" y="16" font-size="12" fill="#222">CCAI score</text>"##
        return out + "</svg>"
    }
}
