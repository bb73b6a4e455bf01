import CharterDomain
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

/// Who may do what, from the admin pages: a conversation's panel ids (release, allow-list) and
/// organisers (its owners and moderators), and the instance's organiser accounts (admins only).
struct AdminAccessPages: Sendable {
    let services: AppServices

    /// A conversation's owners release panel ids, upload the allow-list and give roles.
    var ownerPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .post("conversations/{slug}/xids/release", use: releaseXID)
            .post("conversations/{slug}/xids", use: setAllowList)
            .post("conversations/{slug}/members", use: setMember)
    }

    /// The instance's admins manage organiser accounts (added behind `InstanceAdminMiddleware`).
    var instanceAdminPages: RouteCollection<AdminContext> {
        RouteCollection(context: AdminContext.self)
            .get("organisers", use: organisers)
            .post("organisers", use: createOrganiser)
            .post("organisers/{id}/admin", use: setAdmin)
    }

    @Sendable func releaseXID(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let conversation = context.conversation
        let xid = try ParticipantIdentity.validatedXID(try form.required("xid"))
        let released = try await services.store.releaseXID(
            conversationID: conversation.id, xid: xid, by: Actor(context.organiser))
        return Response.seeOther(
            "/admin/conversations/\(conversation.slug)?done=\(released ? "released" : "not-bound")")
    }

    @Sendable func setAllowList(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let conversation = context.conversation
        let lines = SeedText.lines(form["xids"] ?? "")
        guard lines.count <= 100_000 else {
            throw CharterError.invalid(field: "xids", message: "An allow-list holds at most 100000 panel ids.")
        }
        let xids = try lines.map { try ParticipantIdentity.validatedXID($0) }
        try await services.store.setAllowedXIDs(
            conversationID: conversation.id, xids: xids, by: Actor(context.organiser))
        return Response.seeOther("/admin/conversations/\(conversation.slug)?done=allow-list")
    }

    @Sendable func setMember(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let conversation = context.conversation
        guard let (member, _) = try await services.store.organiserCredentials(email: try form.required("email"))
        else {
            throw CharterError.notFound("Organiser")
        }
        let role: ConversationRole? =
            switch try form.required("role") {
            case "owner": .owner
            case "moderator": .moderator
            case "none": nil
            default: throw CharterError.invalid(field: "role", message: "role must be owner, moderator or none")
            }
        try await services.store.setMembership(
            conversationID: conversation.id, organiserID: member.id, role: role, by: Actor(context.organiser))
        return Response.seeOther("/admin/conversations/\(conversation.slug)?done=member")
    }

    @Sendable func organisers(_ request: Request, context: AdminContext) async throws -> Response {
        try await page(
            organiser: context.organiser, csrf: context.csrf,
            notice: request.query["done"].flatMap { Self.notices[$0] })
    }

    @Sendable func createOrganiser(_ request: Request, context: AdminContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let email = try form.required("email")
        let password = try form.required("password")
        guard password.count >= 12, !password.contains("\0") else {
            return try await page(
                organiser: context.organiser, csrf: context.csrf,
                error: "The first password must be at least 12 characters.", email: email,
                status: .unprocessableContent)
        }
        do {
            _ = try await services.store.createOrganiser(
                email: email, passwordHash: try services.configuration.passwordHasher.hash(password),
                isAdmin: form["admin"] == "on")
        } catch let error as CharterError {
            return try await page(
                organiser: context.organiser, csrf: context.csrf, error: error.message, email: email,
                status: AppError(error).status)
        }
        return Response.seeOther("/admin/organisers?done=created")
    }

    @Sendable func setAdmin(_ request: Request, context: AdminContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        guard let id = Int64(try context.parameters.require("id")) else { throw CharterError.notFound("Organiser") }
        try await services.store.setAdmin(
            organiserID: id, isAdmin: form["admin"] == "true", by: Actor(context.organiser))
        return Response.seeOther("/admin/organisers?done=saved")
    }

    static let notices = ["created": "Organiser created.", "saved": "Saved."]

    struct Row {
        let id: Int64
        let email: String
        let isAdmin: Bool
        let toggleValue, toggleLabel: String
        let csrf: String
    }

    struct View: PageTemplate {
        static let template = "admin_organisers"
        let organiserEmail, csrf, email: String
        let notice, error: String?
        let organisers: [Row]
    }

    private func page(
        organiser: Organiser, csrf: String, notice: String? = nil, error: String? = nil, email: String = "",
        status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let rows = try await services.store.organisers().map {
            Row(
                id: $0.id, email: $0.email, isAdmin: $0.isAdmin, toggleValue: $0.isAdmin ? "false" : "true",
                toggleLabel: $0.isAdmin ? "Remove admin" : "Make admin", csrf: csrf)
        }
        return services.views.page(
            title: "Organisers",
            View(
                organiserEmail: organiser.email, csrf: csrf, email: email, notice: notice, error: error,
                organisers: rows), status: status, admin: true)
    }
}
