import CharterDomain
import CharterPipeline
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

/// The one place that decides which organiser may do what to which conversation. Every route
/// that touches one conversation (by its slug, or by a constitution or run of it) is matched
/// here against the role it needs; an organiser without that role on the conversation gets 403
/// before the handler runs. Signing in stays the handlers' business (401, or the sign-in page),
/// and so does "not found".
struct ConversationAccessMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let store: any CharterStore

    /// What a request is about, and the role it needs.
    enum Target: Equatable {
        case conversation(slug: String)
        case constitution(id: Int64)
        case run(id: Int64)
    }

    struct Rule: Equatable {
        var targets: [Target]
        var role: ConversationRole
    }

    /// Participants' routes under a conversation's API path need no organiser.
    static let participantRoutes: Set<String> = ["POST participants", "GET next", "POST votes", "POST statements"]
    /// Writes a moderator may make; every other write needs an owner.
    static let moderatorWrites: Set<String> = ["moderation"]

    /// The rule for a request, or nil when it touches no single conversation.
    static func rule(method: HTTPRequest.Method, path: String) -> Rule? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let reading = method == .get || method == .head
        func role(_ rest: ArraySlice<String>) -> ConversationRole {
            if reading { return .moderator }
            if let first = rest.first, moderatorWrites.contains(first) { return .moderator }
            return .owner
        }
        switch segments.first {
        case "api":
            guard segments.count >= 3, segments[1] == "v1" else { return nil }
            let rest = segments.dropFirst(3)
            switch segments[2] {
            case "conversations":
                guard let slug = rest.first, slug != "import" else { return nil }
                let tail = rest.dropFirst()
                if tail.isEmpty, reading { return nil }
                if tail.count == 1, let first = tail.first, participantRoutes.contains("\(method.rawValue) \(first)") {
                    return nil
                }
                return Rule(targets: [.conversation(slug: slug)], role: role(tail))
            case "constitutions":
                return constitutionRule(rest, role: role(rest.dropFirst()))
            case "runs":
                guard let raw = rest.first, let id = Int64(raw) else { return nil }
                return Rule(targets: [.run(id: id)], role: role(rest.dropFirst()))
            default:
                return nil
            }
        case "admin":
            guard segments.count >= 3 else { return nil }
            let rest = segments.dropFirst(2)
            switch segments[1] {
            case "conversations":
                guard let slug = rest.first, slug != "new" else { return nil }
                return Rule(targets: [.conversation(slug: slug)], role: role(rest.dropFirst()))
            case "constitutions":
                return constitutionRule(rest, role: role(rest.dropFirst()))
            case "runs":
                guard let raw = rest.first, let id = Int64(raw) else { return nil }
                return Rule(targets: [.run(id: id)], role: role(rest.dropFirst()))
            default:
                return nil
            }
        default:
            return nil
        }
    }

    /// `constitutions/{id}` and `constitutions/{id}/diff/{other}`: both must be readable.
    private static func constitutionRule(_ rest: ArraySlice<String>, role: ConversationRole) -> Rule? {
        guard let raw = rest.first, let id = Int64(raw) else { return nil }
        var targets: [Target] = [.constitution(id: id)]
        let tail = Array(rest.dropFirst())
        if tail.count == 2, tail.first == "diff", let other = tail.last.flatMap({ Int64($0) }) {
            targets.append(.constitution(id: other))
        }
        return Rule(targets: targets, role: role)
    }

    static let forbidden = AppError(
        .forbidden, code: "forbidden",
        message: "You are not an organiser of this conversation with the role this needs; ask one of its owners.")

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let organiser = context.organiser, let rule = Self.rule(method: request.method, path: request.uri.path)
        else { return try await next(request, context) }
        for target in rule.targets {
            guard let conversationID = try await conversationID(of: target) else { continue }
            guard let role = try await store.role(of: organiser, conversationID: conversationID), role >= rule.role
            else { throw Self.forbidden }
        }
        return try await next(request, context)
    }

    /// The conversation a target belongs to; nil when there is no such thing (the handler says
    /// 404).
    private func conversationID(of target: Target) async throws -> Int64? {
        switch target {
        case .conversation(let slug):
            return try await store.conversation(slug: slug)?.id
        case .constitution(let id):
            return try await store.constitution(id: id)?.conversationID
        case .run(let id):
            guard let run = try await store.run(id: id) else { return nil }
            return try await store.constitution(id: run.request.ccaiConstitutionID)?.conversationID
        }
    }
}

extension AppServices {
    /// For requests whose conversation is only known from their body (a new run, an import into
    /// an existing slug): the same rule as the middleware's.
    func require(_ role: ConversationRole, of organiser: Organiser, conversationID: Int64) async throws {
        guard let held = try await store.role(of: organiser, conversationID: conversationID), held >= role else {
            throw ConversationAccessMiddleware.forbidden
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

    /// Instance-wide pages and lists (the whole audit log, organiser accounts) are the admin's.
    func requireAdmin(_ organiser: Organiser) throws {
        guard organiser.isAdmin else {
            throw AppError(.forbidden, code: "forbidden", message: "Only an instance admin may do this.")
        }
    }
}
