import CharterDomain
import CharterHTTP
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CharterHTTP

/// Every API operation of the OpenAPI document and every admin page, asked by each kind of
/// caller: only the cells the design allows get past authentication.
@Suite struct AuthorizationMatrixTests {
    enum Caller: String, CaseIterable {
        case anonymous, participant, badToken, expiredSession, organiser
        /// A signed-in organiser (not an admin) with no role on the conversation `town`.
        case otherOrganiser
        /// A moderator of `town`: through wherever the operation's `x-charter-role` is
        /// moderator or organiser, 403 where it is owner or admin.
        case moderator
    }

    /// Operations on one conversation (by slug, or by its constitutions and runs), and the
    /// instance-wide audit log: an organiser without a role there gets 403.
    static func touchesTown(_ operation: Operation) -> Bool {
        operation.path.hasPrefix("/api/v1/conversations/town") || operation.path.hasPrefix("/api/v1/constitutions/")
            || operation.path.hasPrefix("/api/v1/runs/") || operation.path == "/api/v1/audit"
    }

    struct Operation {
        let method: HTTPRequest.Method
        let path: String
        /// "organiser", "participant", "public" or "public-or-organiser".
        let access: String
        /// The role an organiser operation declares (`x-charter-role`).
        let role: String?
    }

    static func operations(statement: Int64) throws -> [Operation] {
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(try OpenAPIDocument.load().utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var operations: [Operation] = []
        for (template, item) in paths {
            let path = template.replacingOccurrences(of: "{slug}", with: "town")
                .replacingOccurrences(of: "{statement}", with: String(statement))
                .replacingOccurrences(of: "{id}", with: "1").replacingOccurrences(of: "{other}", with: "1")
                .replacingOccurrences(of: "{language}", with: "de")
            for (method, value) in item where method != "parameters" {
                let security = (value as? [String: Any])?["security"] as? [[String: Any]] ?? []
                let schemes = Set(security.flatMap(\.keys))
                let access =
                    security.contains(where: \.isEmpty)
                    ? "public-or-organiser"
                    : schemes == ["organiserToken"]
                        ? "organiser"
                        : schemes == ["participantToken"]
                            ? "participant" : schemes.contains("organiserToken") ? "public-or-organiser" : "public"
                let role = (value as? [String: Any])?["x-charter-role"] as? String
                if access == "organiser" {
                    #expect(["organiser", "moderator", "owner", "admin"].contains(role ?? ""), "\(method) \(template)")
                }
                operations.append(
                    Operation(
                        method: HTTPRequest.Method(rawValue: method.uppercased())!, path: path, access: access,
                        role: role))
            }
        }
        return operations.sorted { ($0.path, $0.method.rawValue) < ($1.path, $1.method.rawValue) }
    }

    @Test func onlyTheIntendedCallersGetPastAuthentication() async throws {
        let h = try await Harness.make()
        let constitution = try await Fixtures.publishConstitution(in: h.store, conversationID: h.conversation.id)
        // Run 1 exists, so an organiser without a role meets 403 rather than 404.
        _ = try await h.store.createRun(
            NewComparisonRun(
                ccaiConstitutionID: constitution, baselineSource: "test", baselineBody: Data("{}".utf8),
                baselineSHA256: "x", profile: .smoke, seed: 1, parameters: [:], pipelineCommand: "true"),
            by: .system)
        // A session that has expired, stored as a real one would be.
        let expired = SecureToken.make()
        try await h.store.storeSession(
            organiserID: h.organiser.id, tokenHash: SecureToken.digest(expired),
            expiresAt: Date().addingTimeInterval(-60))
        let operations = try Self.operations(statement: h.statements[0].id)
        #expect(operations.count >= 30)
        let other = try await h.store.createOrganiser(email: "other@example.org", passwordHash: "x")
        let otherToken = SecureToken.make(prefix: "co_")
        try await h.store.storeAPIToken(organiserID: other.id, tokenHash: SecureToken.digest(otherToken), label: "o")
        let moderator = try await h.store.createOrganiser(email: "moderator@example.org", passwordHash: "x")
        let moderatorToken = SecureToken.make(prefix: "co_")
        try await h.store.storeAPIToken(
            organiserID: moderator.id, tokenHash: SecureToken.digest(moderatorToken), label: "m")
        try await h.store.setMembership(
            conversationID: h.conversation.id, organiserID: moderator.id, role: .moderator, by: Actor(h.organiser))
        _ = try await h.store.createConversation(
            ConversationSettings(slug: "elsewhere", title: "Elsewhere", question: "?"), by: Actor(other))
        try await h.test { client in
            let registered = try await client.json(.post, "/api/v1/conversations/town/participants", "{}")
            let participantToken = try #require(try registered.decoded()["token"] as? String)
            for operation in operations {
                for caller in Caller.allCases {
                    var headers: HTTPFields = [:]
                    switch caller {
                    case .anonymous: break
                    case .participant: headers[.authorization] = "Bearer \(participantToken)"
                    case .badToken: headers[.authorization] = "Bearer co_not-a-real-token"
                    case .expiredSession: headers[.cookie] = "charter_admin=\(expired)"
                    case .organiser: headers = h.organiserHeaders
                    case .otherOrganiser: headers[.authorization] = "Bearer \(otherToken)"
                    case .moderator: headers[.authorization] = "Bearer \(moderatorToken)"
                    }
                    let body: String? = [.post, .put, .patch].contains(operation.method) ? "{}" : nil
                    let response = try await client.json(operation.method, operation.path, body, headers: headers)
                    let denied = response.status == .unauthorized || response.status == .forbidden
                    let label = "\(operation.method) \(operation.path) as \(caller.rawValue): \(response.status.code)"
                    if caller == .moderator, operation.access == "organiser" {
                        if operation.role == "owner" || operation.role == "admin" {
                            #expect(response.status == .forbidden, "\(label)")
                        } else {
                            #expect(!denied, "\(label)")
                        }
                        #expect(response.status.code < 500, "\(label)")
                        continue
                    }
                    if caller == .otherOrganiser, operation.access != "participant" {
                        if operation.access == "organiser", Self.touchesTown(operation) {
                            #expect(response.status == .forbidden, "\(label)")
                        } else {
                            #expect(!denied, "\(label)")
                        }
                        #expect(response.status.code < 500, "\(label)")
                        continue
                    }
                    let allowed: Bool =
                        switch (operation.access, caller) {
                        case ("organiser", .organiser), ("organiser", .otherOrganiser), ("organiser", .moderator): true
                        case ("organiser", _): false
                        case ("participant", .participant): true
                        case ("participant", _): false
                        // A credential that is not one is refused even where none is needed.
                        default: caller != .badToken
                        }
                    if allowed {
                        #expect(!denied, "\(label)")
                    } else {
                        #expect(response.status == .unauthorized, "\(label)")
                    }
                    #expect(response.status.code < 500, "\(label)")
                }
            }

            // The admin pages send anyone without a live session to the sign-in page, and admin
            // forms refuse them.
            for path in [
                "/admin", "/admin/conversations/new", "/admin/conversations/town",
                "/admin/conversations/town/moderation",
                "/admin/conversations/town/analysis", "/admin/conversations/town/constitution", "/admin/audit",
                "/admin/runs", "/admin/constitutions/1", "/admin/conversations/town/export/polis", "/admin/tokens",
            ] {
                for cookie in [nil, "charter_admin=\(expired)", "charter_admin=made-up"] {
                    var headers: HTTPFields = [.authorization: "Bearer \(participantToken)"]
                    if let cookie { headers[.cookie] = cookie }
                    let page = try await client.executeRequest(uri: path, method: .get, headers: headers, body: nil)
                    #expect(page.status == .seeOther && page.headers[.location] == "/admin/login", "\(path)")
                }
            }
            for path in [
                "/admin/conversations", "/admin/conversations/town", "/admin/conversations/town/seeds",
                "/admin/runs", "/admin/runs/1/cancel", "/admin/logout", "/admin/tokens",
                "/admin/conversations/town/moderation/reword",
            ] {
                let post = try await client.executeRequest(
                    uri: path, method: .post,
                    headers: [.contentType: "application/x-www-form-urlencoded", .cookie: "charter_admin=\(expired)"],
                    body: ByteBuffer(string: "csrf=x"))
                #expect(post.status == .unauthorized || post.status == .forbidden, "\(path): \(post.status)")
            }
        }
    }
}
