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

    /// Schemathesis' examples phase sends the document's examples, and its stateful phase follows
    /// its links: an operation added without them would be tested less than the others.
    @Test func everyOperationHasExamplesAndEveryCreationLinksOn() throws {
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(try OpenAPIDocument.load().utf8)) as? [String: Any])
        func resolved(_ object: [String: Any]) -> [String: Any] {
            guard let ref = object["$ref"] as? String else { return object }
            let parts = ref.split(separator: "/").dropFirst().map(String.init)
            var node: Any? = document
            for part in parts { node = (node as? [String: Any])?[part] }
            return node as? [String: Any] ?? [:]
        }
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var missing: [String] = []
        for (path, item) in paths {
            let shared = (item["parameters"] as? [[String: Any]]) ?? []
            for (method, value) in item {
                guard let operation = value as? [String: Any], operation["responses"] != nil else { continue }
                let name = "\(method.uppercased()) \(path)"
                for parameter in (shared + ((operation["parameters"] as? [[String: Any]]) ?? [])).map(resolved)
                where parameter["example"] == nil && parameter["examples"] == nil {
                    missing.append("\(name): parameter \(parameter["name"] ?? "?") has no example")
                }
                let content = ((operation["requestBody"] as? [String: Any])?["content"] as? [String: Any]) ?? [:]
                if let json = content["application/json"] as? [String: Any] {
                    let schema = resolved(json["schema"] as? [String: Any] ?? [:])
                    if schema["examples"] == nil && json["examples"] == nil && json["example"] == nil {
                        missing.append("\(name): the JSON body has no example")
                    }
                }
                let responses = operation["responses"] as? [String: Any] ?? [:]
                if method == "post", let created = responses["201"] as? [String: Any],
                    (created["links"] as? [String: Any])?.isEmpty ?? true
                {
                    missing.append("\(name): 201 has no links")
                }
            }
        }
        #expect(missing.sorted() == [], "\(missing.sorted().joined(separator: "\n"))")
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
