import CharterDomain
import CharterPipeline
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

/// What an organiser route is about, named by its path parameters.
enum AccessTarget: Sendable {
    /// `{slug}`: a conversation.
    case conversation
    /// `{id}` (and `{other}` when the path has it): constitutions, each of which must be
    /// accessible.
    case constitution
    /// `{id}`: a comparison run, which belongs to its CCAI constitution's conversation.
    case run
}

/// The one place that decides which organiser may do what to which conversation: every
/// conversation route is added to a group with this middleware and the role the route needs,
/// and the handler gets a context whose conversation and role are not optional. An organiser
/// without that role gets 403 before the handler runs; a target that does not exist, 404.
struct ConversationRoleMiddleware<Context: OrganiserRequestContext>: RouterMiddleware {
    let role: ConversationRole
    let target: AccessTarget
    let store: any CharterStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        let conversations = try await conversationIDs(context.parameters)
        var grant: ConversationGrant?
        for conversationID in conversations {
            guard let held = try await store.role(of: context.organiser, conversationID: conversationID), held >= role
            else { throw AppError.forbiddenRole }
            if grant == nil {
                guard let conversation = try await store.conversation(id: conversationID) else {
                    throw CharterError.notFound("Conversation")
                }
                grant = ConversationGrant(conversation: conversation, role: held)
            }
        }
        context.grant = grant
        return try await next(request, context)
    }

    /// The conversations the route's parameters lead to, the route's own first.
    private func conversationIDs(_ parameters: Parameters) async throws -> [Int64] {
        switch target {
        case .conversation:
            let slug = try parameters.require("slug")
            guard let conversation = try await store.conversation(slug: slug) else {
                throw CharterError.notFound("Conversation")
            }
            return [conversation.id]
        case .constitution:
            var ids = [try parameters.require("id", as: Int64.self)]
            if let other = parameters.get("other") {
                guard let id = Int64(other) else { throw AppError.badRequest("A constitution id is a number.") }
                ids.append(id)
            }
            var conversations: [Int64] = []
            for id in ids {
                guard let constitution = try await store.constitution(id: id) else {
                    throw CharterError.notFound("Constitution")
                }
                conversations.append(constitution.conversationID)
            }
            return conversations
        case .run:
            let id = try parameters.require("id", as: Int64.self)
            guard let run = try await store.run(id: id),
                let constitution = try await store.constitution(id: run.request.ccaiConstitutionID)
            else { throw CharterError.notFound("Run") }
            return [constitution.conversationID]
        }
    }
}

/// Instance-wide pages and lists (organiser accounts, the whole audit log) are the admins'.
struct InstanceAdminMiddleware<Context: OrganiserRequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard context.organiser.isAdmin else { throw AppError.adminOnly }
        return try await next(request, context)
    }
}

extension AppError {
    static let adminOnly = AppError(.forbidden, code: "forbidden", message: "Only an instance admin may do this.")
    static let forbiddenRole = AppError(
        .forbidden, code: "forbidden",
        message: "You are not an organiser of this conversation with the role this needs; ask one of its owners.")
}

extension AppServices {
    /// For requests whose conversation is only known from their body (a new run, an import into
    /// an existing slug): the same rule as the middleware's.
    func require(_ role: ConversationRole, of organiser: Organiser, conversationID: Int64) async throws {
        guard let held = try await store.role(of: organiser, conversationID: conversationID), held >= role else {
            throw AppError.forbiddenRole
        }
    }

    /// The conversations an organiser may see in lists: all for an admin, else their own.
    func visibleConversationIDs(_ organiser: Organiser) async throws -> Set<Int64>? {
        organiser.isAdmin ? nil : try await store.memberConversationIDs(organiserID: organiser.id)
    }

    /// Starting a run trains on one conversation's constitution: its owners decide that. A
    /// baseline taken from another conversation's constitution must at least be readable.
    func requireRunRights(_ organiser: Organiser, constitutionID: Int64, baseline: BaselineChoice) async throws {
        if let constitution = try await store.constitution(id: constitutionID) {
            try await require(.owner, of: organiser, conversationID: constitution.conversationID)
        }
        if case .constitution(let id) = baseline, let other = try await store.constitution(id: id) {
            try await require(.moderator, of: organiser, conversationID: other.conversationID)
        }
    }

    /// A conversation as organisers read it; its owners also get the secret that signs its
    /// panel links.
    func organiserBody(_ conversation: Conversation, owner: Bool) -> API.ConversationBody {
        var body = API.ConversationBody(conversation, includeCode: true)
        if owner { body.xidSecret = signer.xidSecret(conversationID: conversation.id) }
        return body
    }

}
