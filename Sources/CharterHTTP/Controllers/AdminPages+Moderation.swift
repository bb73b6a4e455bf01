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
        let text, moderation, metaAction, metaLabel: String
        let isSeed, isMeta: Bool
        let reason: String?
    }

    struct ModerationView: PageTemplate {
        static let template = "admin_moderation"
        let organiserEmail, csrf, slug, title, query, returnQuery: String
        let notice: String?
        let filters: [FilterOption]
        let statements: [ModerationRow]
        let total: Int
        let pageText: String?
        let previous, next: String?
    }

    @Sendable func moderationPage(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let conversation = context.conversation
        let organiser = context.organiser
        let csrf = context.csrf
        let query = request.query
        var filter = try StatementFilter(query: query)
        if query["moderation"] == nil { filter.moderation = .pending }
        let page = try await services.store.statements(conversationID: conversation.id, filter: filter)
        let selected = filter.moderation?.rawValue ?? "all"
        let base =
            "/admin/conversations/\(conversation.slug)/moderation?moderation=\(selected)"
            + (filter.search.flatMap { $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) }.map {
                "&q=\($0)"
            } ?? "")
        let notice = query["done"].flatMap { done -> String? in
            guard done.hasPrefix("moderated-") else { return nil }
            return "\(done.dropFirst("moderated-".count)) statement(s) updated."
        }
        let view = ModerationView(
            organiserEmail: organiser.email, csrf: csrf, slug: conversation.slug, title: conversation.settings.title,
            query: filter.search ?? "",
            returnQuery: "moderation=\(selected)&offset=\(page.offset)"
                + (filter.search.flatMap { $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) }.map {
                    "&q=\($0)"
                } ?? ""),
            notice: notice,
            filters: ["pending", "accepted", "rejected", "all"].map {
                FilterOption(value: $0, selected: $0 == selected)
            },
            statements: page.items.map {
                ModerationRow(
                    id: $0.id, text: $0.text, moderation: $0.moderation.rawValue,
                    metaAction: $0.isMeta ? "unmeta" : "meta",
                    metaLabel: $0.isMeta ? "Unmark meta" : "Meta", isSeed: $0.isSeed, isMeta: $0.isMeta,
                    reason: $0.reason)
            },
            total: page.total,
            pageText: page.total > page.limit
                ? "showing \(page.offset + 1)–\(min(page.total, page.offset + page.limit))" : nil,
            previous: page.offset > 0 ? "\(base)&offset=\(max(0, page.offset - page.limit))" : nil,
            next: page.offset + page.limit < page.total ? "\(base)&offset=\(page.offset + page.limit)" : nil)
        return services.views.page(title: "Moderation", view, admin: true)
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
