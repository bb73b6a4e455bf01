import Foundation
public import HTTPTypes
public import HummingbirdTesting
import NIOCore

/// A browser with JavaScript off, over a HummingbirdTesting client: it keeps cookies, submits
/// URL-encoded forms and follows redirects, so a test drives Charter the way a person does.
public struct Browser: Sendable {
    public struct Page: Sendable {
        public let status: HTTPResponse.Status
        public let headers: HTTPFields
        public let body: String
        /// The path the last request went to, after redirects.
        public let path: String
        /// The statuses of the redirects followed on the way.
        public let redirects: [HTTPResponse.Status]
        /// The last redirect's fragment (`statement` for `…#statement`), which a browser keeps to
        /// scroll to and never sends.
        public var fragment: String? = nil

        /// The value of the first hidden or text input with this name.
        public func input(_ name: String) -> String? {
            firstMatch(#"name="\#(name)" value="([^"]*)""#)
        }

        public var csrf: String? { input("csrf") }

        public func firstMatch(_ pattern: String) -> String? {
            guard let regex = try? NSRegularExpression(pattern: pattern),
                let match = regex.firstMatch(in: body, range: NSRange(body.startIndex..., in: body)),
                let range = Range(match.range(at: 1), in: body)
            else { return nil }
            return String(body[range])
        }

        public func contains(_ text: String) -> Bool { body.contains(text) }
    }

    public let client: any TestClientProtocol
    public private(set) var cookies: [String: String] = [:]
    public var headers: HTTPFields = [:]

    public init(client: any TestClientProtocol) {
        self.client = client
    }

    public mutating func get(_ path: String) async throws -> Page {
        try await request(path, method: .get, body: nil, contentType: nil)
    }

    /// Posts a form the way a browser does; the fields are URL-encoded in order.
    public mutating func post(
        _ path: String, form: [(String, String)], contentType: String = "application/x-www-form-urlencoded"
    )
        async throws -> Page
    {
        try await request(path, method: .post, body: Self.encode(form), contentType: contentType)
    }

    public mutating func post(_ path: String, rawBody: String, contentType: String) async throws -> Page {
        try await request(path, method: .post, body: rawBody, contentType: contentType)
    }

    public static func encode(_ form: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return form.map { name, value in
            "\(name.addingPercentEncoding(withAllowedCharacters: allowed)!)=\(value.addingPercentEncoding(withAllowedCharacters: allowed)!)"
        }.joined(separator: "&")
    }

    private mutating func request(_ path: String, method: HTTPRequest.Method, body: String?, contentType: String?)
        async throws -> Page
    {
        var path = path
        var method = method
        var body = body
        var redirects: [HTTPResponse.Status] = []
        var fragment: String?
        while true {
            var fields = headers
            if !cookies.isEmpty {
                fields[.cookie] = cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                    separator: "; ")
            }
            if let body, let contentType {
                fields[.contentType] = contentType
                fields[.contentLength] = String(body.utf8.count)
            }
            let response = try await client.executeRequest(
                uri: path, method: method, headers: fields, body: body.map { ByteBuffer(string: $0) })
            for header in response.headers[values: .setCookie] { store(cookie: header) }
            if [.seeOther, .found, .movedPermanently].contains(response.status),
                let location = response.headers[.location], redirects.count < 5
            {
                redirects.append(response.status)
                let parts = location.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
                path = String(parts[0])
                fragment = parts.count > 1 ? String(parts[1]) : nil
                method = .get
                body = nil
                continue
            }
            return Page(
                status: response.status, headers: response.headers, body: String(buffer: response.body), path: path,
                redirects: redirects, fragment: fragment)
        }
    }

    private mutating func store(cookie header: String) {
        let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let pair = parts.first, let eq = pair.firstIndex(of: "=") else { return }
        let name = String(pair[..<eq])
        let value = String(pair[pair.index(after: eq)...])
        if parts.contains(where: { $0.lowercased() == "max-age=0" }) || value.isEmpty {
            cookies[name] = nil
        } else {
            cookies[name] = value
        }
    }

    public mutating func setCookie(_ name: String, _ value: String?) { cookies[name] = value }
}
