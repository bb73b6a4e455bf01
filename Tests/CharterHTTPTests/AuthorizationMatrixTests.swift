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
    }

    struct Operation {
        let method: HTTPRequest.Method
        let path: String
        /// "organiser", "participant", "public" or "public-or-organiser".
        let access: String
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
                operations.append(
                    Operation(method: HTTPRequest.Method(rawValue: method.uppercased())!, path: path, access: access))
            }
        }
        return operations.sorted { ($0.path, $0.method.rawValue) < ($1.path, $1.method.rawValue) }
    }

    @Test func onlyTheIntendedCallersGetPastAuthentication() async throws {
        let h = try await Harness.make()
        _ = try await Fixtures.publishConstitution(in: h.store, conversationID: h.conversation.id)
        // A session that has expired, stored as a real one would be.
        let expired = SecureToken.make()
        try await h.store.storeSession(
            organiserID: h.organiser.id, tokenHash: SecureToken.digest(expired),
            expiresAt: Date().addingTimeInterval(-60))
        let operations = try Self.operations(statement: h.statements[0].id)
        #expect(operations.count >= 30)
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
                    }
                    let body: String? = [.post, .put, .patch].contains(operation.method) ? "{}" : nil
                    let response = try await client.json(operation.method, operation.path, body, headers: headers)
                    let denied = response.status == .unauthorized || response.status == .forbidden
                    let allowed: Bool =
                        switch (operation.access, caller) {
                        case ("organiser", .organiser): true
                        case ("organiser", _): false
                        case ("participant", .participant): true
                        case ("participant", _): false
                        // A credential that is not one is refused even where none is needed.
                        default: caller != .badToken
                        }
                    let label = "\(operation.method) \(operation.path) as \(caller.rawValue): \(response.status.code)"
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
                "/admin/runs", "/admin/constitutions/1", "/admin/conversations/town/export/polis",
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
                "/admin/runs", "/admin/runs/1/cancel", "/admin/logout",
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
