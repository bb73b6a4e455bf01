import CharterCompiler
import CharterDomain
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

// The moderation queue and the audit log pages.
extension AdminPages {
    struct FilterOption {
        let value: String
        let selected: Bool
    }

    struct ModerationRow {
        let id: Int64
        let text, moderation, metaAction, metaLabel, author: String
        let isMeta: Bool
        let reason: String?
        let originalText: String?
        let agree, disagree, pass: Int
        /// "75% agree (3 of 4 votes)"; nil without votes.
        let share: String?
        /// Nobody but its author has voted: the wording can change in place.
        let canReword: Bool
        let rewordMode, rewordLabel: String
        let maxLength: Int
        /// Statements off this page that read alike (an accepted one the queue no longer shows).
        var elsewhere: [Lookalike] = []
        /// Stored, not computed: the templates see stored properties only.
        var hasElsewhere = false
    }

    struct Lookalike {
        let id: Int64
        let text, state: String
    }

    /// A statement alone, or near-duplicates shown together.
    struct ModerationGroup {
        let isGroup: Bool
        let ids: String
        let statements: [ModerationRow]
    }

    struct ModerationView: PageTemplate {
        static let template = "admin_moderation"
        let organiserEmail, csrf, slug, title, query, returnQuery: String
        let notice: String?
        let error: String?
        let filters: [FilterOption]
        let groups: [ModerationGroup]
        let statements: [ModerationRow]
        let totalText: String
        let duplicatesText: String?
        let pageText: String?
        let previous, next: String?
    }

    @Sendable func moderationPage(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let query = request.query
        let notice = query["done"].flatMap { done -> String? in
            let parts = done.split(separator: "-").map(String.init)
            switch parts.first {
            case "moderated":
                return parts.count == 2 ? "\(Self.statementCount(Int(parts[1]) ?? 0)) updated." : nil
            case "reworded":
                return parts.count == 2
                    ? "Statement #\(parts[1]) reworded and accepted; its first wording is kept in the audit log." : nil
            case "copied":
                return parts.count == 3
                    ? "Statement #\(parts[1]) added and accepted as a reworded copy of #\(parts[2]), which keeps its text, votes and state."
                    : nil
            default: return nil
            }
        }
        return try await moderationPage(context, query: query, notice: notice)
    }

    func moderationPage(
        _ context: AdminConversationContext, query: Form, notice: String? = nil, error: AppError? = nil
    ) async throws -> Response {
        let conversation = context.conversation
        var filter = try StatementFilter(query: query)
        if query["moderation"] == nil { filter.moderation = .pending }
        let page = try await services.store.statements(conversationID: conversation.id, filter: filter)
        let selected = filter.moderation?.rawValue ?? "all"
        let search = filter.search.flatMap { $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) }.map {
            "&q=\($0)"
        }
        let base = "/admin/conversations/\(conversation.slug)/moderation?moderation=\(selected)" + (search ?? "")
        let tallies = try await services.store.voteTallies(
            conversationID: conversation.id, statementIDs: page.items.map(\.id))
        var rows = page.items.map { row($0, tally: tallies[$0.id] ?? VoteTally(), conversation: conversation) }
        // Near-duplicates on this page by the compiler's similarity, its words weighed over the
        // whole conversation; each group is shown where its first member would be.
        let everything = try await services.store.allStatements(conversationID: conversation.id)
        let corpus = everything.map(\.text)
        let onPage = page.items.map { (id: $0.id, text: $0.text) }
        let similar = SimilarStatements.groups(onPage, corpus: corpus)
        // …and each one's look-alikes off this page, so a duplicate of an accepted statement
        // shows though the queue lists only what is pending.
        let pageIDs = Set(page.items.map(\.id))
        let offPage = everything.filter { !pageIDs.contains($0.id) }
        let byStatementID = Dictionary(uniqueKeysWithValues: offPage.map { ($0.id, $0) })
        let lookalikes = SimilarStatements.matches(
            of: onPage, among: offPage.map { (id: $0.id, text: $0.text) }, corpus: corpus)
        for index in rows.indices {
            rows[index].elsewhere = (lookalikes[rows[index].id] ?? []).prefix(5).compactMap { match in
                byStatementID[match.id].map {
                    Lookalike(id: $0.id, text: $0.text, state: $0.isMeta ? "meta" : $0.moderation.rawValue)
                }
            }
            rows[index].hasElsewhere = !rows[index].elsewhere.isEmpty
        }
        var groupOf: [Int64: [Int64]] = [:]
        for group in similar { for id in group { groupOf[id] = group } }
        let byID = Dictionary(uniqueKeysWithValues: rows.map { ($0.id, $0) })
        var shown = Set<Int64>()
        var groups: [ModerationGroup] = []
        for row in rows where !shown.contains(row.id) {
            let members = groupOf[row.id] ?? [row.id]
            shown.formUnion(members)
            groups.append(
                ModerationGroup(
                    isGroup: members.count > 1, ids: members.map { "#\($0)" }.joined(separator: ", "),
                    statements: members.compactMap { byID[$0] }))
        }
        let view = ModerationView(
            organiserEmail: context.organiser.email, csrf: context.csrf, slug: conversation.slug,
            title: conversation.settings.title, query: filter.search ?? "",
            returnQuery: "moderation=\(selected)&offset=\(page.offset)" + (search ?? ""), notice: notice,
            error: error?.message,
            filters: ["pending", "accepted", "rejected", "all"].map {
                FilterOption(value: $0, selected: $0 == selected)
            },
            groups: groups, statements: rows, totalText: Self.statementCount(page.total),
            duplicatesText: similar.isEmpty
                ? nil
                : "Near-duplicates by the constitution compiler's similarity are shown together: "
                    + "\(ActivityChart.count(similar.count, "group")) on this page.",
            pageText: page.total > page.limit
                ? "showing \(page.offset + 1)–\(min(page.total, page.offset + page.limit))" : nil,
            previous: page.offset > 0 ? "\(base)&offset=\(max(0, page.offset - page.limit))" : nil,
            next: page.offset + page.limit < page.total ? "\(base)&offset=\(page.offset + page.limit)" : nil)
        return services.views.page(title: "Moderation", view, status: error?.status ?? .ok, admin: true)
    }

    private func row(_ statement: Statement, tally: VoteTally, conversation: Conversation) -> ModerationRow {
        let author =
            if let authorID = statement.authorID {
                "participant \(authorID)"
            } else if let original = statement.rewordedFrom {
                "an organiser (reworded copy of #\(original))"
            } else {
                "an organiser (seed)"
            }
        // The author's own agree vote (every participant's statement starts with one) does not
        // stop a rewording; anyone else's does.
        let canReword = tally.total == 0 || (statement.authorID != nil && tally.total == 1)
        return ModerationRow(
            id: statement.id, text: statement.text, moderation: statement.moderation.rawValue,
            metaAction: statement.isMeta ? "unmeta" : "meta", metaLabel: statement.isMeta ? "Unmark meta" : "Meta",
            author: author, isMeta: statement.isMeta, reason: statement.reason, originalText: statement.originalText,
            agree: tally.agree, disagree: tally.disagree, pass: tally.pass,
            share: tally.agreeShare.map {
                "\(Int(($0 * 100).rounded()))% agree (\(tally.agree) of \(ActivityChart.count(tally.total, "vote")))"
            },
            canReword: canReword, rewordMode: canReword ? "reword" : "copy",
            rewordLabel: canReword
                ? (statement.moderation == .accepted ? "Save the wording" : "Save the wording and accept")
                : "Accept as a reworded copy",
            maxLength: conversation.settings.maxStatementLength)
    }

    /// A moderator's wording: in place while only the author has voted (and accepted with it),
    /// else as a new accepted statement linked to the old one.
    @Sendable func reword(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let conversation = context.conversation
        guard let id = Int64(try form.required("statement")) else {
            throw AppError.badRequest("The statement id must be a number.")
        }
        let text = try form.required("text")
        let back = Form(urlEncoded: form["return"] ?? "") ?? Form()
        let done: String
        do {
            switch form["mode"] {
            case "copy":
                let copy = try await services.store.addRewordedCopy(
                    of: id, conversationID: conversation.id, text: text, by: Actor(context.organiser))
                done = "copied-\(copy.id)-\(id)"
            default:
                let reworded = try await services.store.rewordStatement(
                    id: id, conversationID: conversation.id, text: text, by: Actor(context.organiser))
                if reworded.moderation != .accepted {
                    _ = try await services.store.moderate(
                        statementIDs: [id], conversationID: conversation.id, action: .accept,
                        by: Actor(context.organiser))
                }
                done = "reworded-\(id)"
            }
        } catch let error as CharterError {
            var refused = AppError(error)
            refused.message = "Statement #\(id): \(error.message)"
            return try await moderationPage(context, query: back, error: refused)
        }
        services.analysis.conversationChanged(conversation.id)
        return Response.seeOther(
            "/admin/conversations/\(conversation.slug)/moderation?\(Self.returnQuery(back, done: done))")
    }

    /// The queue's filter and page from a form's `return` field, with what was done.
    static func returnQuery(_ back: Form, done: String) -> String {
        var query = ["done=\(done)"]
        for name in ["moderation", "q", "offset"] {
            if let value = back[name], let encoded = value.addingPercentEncoding(withAllowedCharacters: .alphanumerics)
            {
                query.append("\(name)=\(encoded)")
            }
        }
        return query.joined(separator: "&")
    }

    struct AuditRow {
        let when, actor, action, detail: String
        let statementID: Int64?
    }

    struct AuditView: PageTemplate {
        static let template = "admin_audit"
        let organiserEmail, csrf: String
        let conversationTitle: String?
        let entries: [AuditRow]
        let previous, next: String?
    }

    func auditPage(_ request: Request, organiser: Organiser, csrf: String) async throws -> Response {
        let query = request.query
        var conversation: Conversation?
        if let slug = query["conversation"], !slug.isEmpty {
            guard let found = try await services.store.conversation(slug: slug) else {
                throw CharterError.notFound("Conversation")
            }
            try await services.require(.moderator, of: organiser, conversationID: found.id)
            conversation = found
        } else {
            guard organiser.isAdmin else { throw AppError.adminOnly }
        }
        let offset = try query.integer("offset") ?? 0
        let page = try await services.store.auditLog(conversationID: conversation?.id, offset: offset, limit: 100)
        let base = "/admin/audit?" + (conversation.map { "conversation=\($0.slug)&" } ?? "")
        let formatter = ISO8601DateFormatter()
        let view = AuditView(
            organiserEmail: organiser.email, csrf: csrf, conversationTitle: conversation?.settings.title,
            entries: page.items.map {
                AuditRow(
                    when: formatter.string(from: $0.createdAt), actor: $0.actor, action: $0.action, detail: $0.detail,
                    statementID: $0.statementID)
            },
            previous: offset > 0 ? "\(base)offset=\(max(0, offset - page.limit))" : nil,
            next: offset + page.limit < page.total ? "\(base)offset=\(offset + page.limit)" : nil)
        return services.views.page(title: "Audit log", view, admin: true)
    }
}
