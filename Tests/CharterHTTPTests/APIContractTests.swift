import CharterInput
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CharterHTTP

/// The API answers as its OpenAPI document says it will.
@Suite struct APIContractTests {
    @Test func anUndeclaredMethodOnADeclaredPathIs405WithAllow() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let cases: [(HTTPRequest.Method, String, String)] = [
                (.init("TRACE")!, "/api/v1/conversations", "GET, POST"),
                (.delete, "/api/v1/runs", "GET, POST"),
                (.put, "/api/v1/audit", "GET"),
                (.delete, "/api/v1/conversations/town/votes", "POST"),
                // A literal segment wins over a parameter, as in the router.
                (.delete, "/api/v1/conversations/import", "POST"),
            ]
            for (method, path, allow) in cases {
                let response = try await client.json(method, path, headers: h.organiserHeaders)
                #expect(response.status == .methodNotAllowed, "\(method) \(path)")
                #expect(response.headers[.allow] == allow, "\(method) \(path)")
                let body = try response.decoded()
                #expect((body["error"] as? [String: Any])?["code"] as? String == "method_not_allowed")
            }
            // An address the document does not have stays 404, and declared methods still work.
            let missing = try await client.json(.get, "/api/v1/nothing-here", headers: h.organiserHeaders)
            #expect(missing.status == .notFound)
            let listed = try await client.json(.get, "/api/v1/conversations", headers: h.organiserHeaders)
            #expect(listed.status == .ok)
        }
    }

    /// An id the conversation does not have is a mistake in the body, not a missing
    /// conversation: 422 naming the ids, and no statement of the request is moderated.
    @Test func moderatingUnknownStatementsNamesThemAndChangesNothing() async throws {
        let h = try await Harness.make()
        let known = try #require(h.statements.first)
        try await h.test { client in
            let response = try await client.json(
                .post, "/api/v1/conversations/town/moderation",
                #"{"statements": [\#(known.id), 9998, 9999], "action": "reject"}"#, headers: h.organiserHeaders)
            #expect(response.status == .unprocessableContent)
            let error = try response.decoded()["error"] as? [String: Any]
            let message = try #require(error?["message"] as? String)
            #expect(message.contains("9998, 9999"))
            #expect(!message.contains("\(known.id),"))
        }
        let after = try await h.store.statement(id: known.id)
        #expect(after?.moderation == known.moderation)
    }

    @Test func declaredMethodsMatchTemplatesSegmentBySegment() throws {
        let declared = try DeclaredMethods(openAPIDocument: try OpenAPIDocument.load())
        let conversation = declared.methods(forPath: "/api/v1/conversations/town")
        #expect(conversation == ["GET", "PATCH"])
        let empty = declared.methods(forPath: "/api/v1/conversations/town/nothing")
        #expect(empty.isEmpty)
        let trailing = declared.methods(forPath: "/api/v1/runs/")
        #expect(trailing == ["GET", "POST"])
    }
}

@Suite struct ImportPartNamingTests {
    /// A client names the multipart field after the export's file; a browser sends the file's own
    /// name. Either is read, and a part that is neither is ignored.
    @Test func aPartIsNamedByItsFieldOrItsFileName() throws {
        let boundary = "b0undary"
        func part(name: String, fileName: String, _ text: String) -> String {
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(fileName)\"\r\n\r\n\(text)\r\n"
        }
        let body =
            part(name: "participants-votes.csv", fileName: "upload.bin", "by field")
            + part(name: "file", fileName: "comments.csv", "by file name")
            + part(name: "other", fileName: "notes.txt", "neither") + "--\(boundary)--\r\n"
        let files = try PolisArchive.files(
            multipart: Data(body.utf8), contentType: "multipart/form-data; boundary=\(boundary)")
        #expect(files.keys.sorted() == ["comments.csv", "participants-votes.csv"])
        #expect(files["participants-votes.csv"].map { String(decoding: $0, as: UTF8.self) } == "by field")
        #expect(files["comments.csv"].map { String(decoding: $0, as: UTF8.self) } == "by file name")
    }
}
