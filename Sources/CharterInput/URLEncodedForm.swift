import Foundation

/// A URL-encoded form (or query string): every value of every field, in order.
public struct URLEncodedForm: Sendable {
    public private(set) var fields: [(name: String, value: String)] = []

    /// The decoded form, or nil when a field's percent-encoding is malformed.
    public init?(urlEncoded body: String) {
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let rawName = parts.first, let name = Self.decode(rawName),
                let value = Self.decode(parts.count > 1 ? parts[parts.index(after: parts.startIndex)] : "")
            else {
                return nil
            }
            fields.append((name, value))
        }
    }

    /// An empty form.
    public init() {}

    private static func decode(_ part: Substring) -> String? {
        part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    public subscript(_ name: String) -> String? {
        fields.first { $0.name == name }?.value
    }

    public func all(_ name: String) -> [String] {
        fields.filter { $0.name == name }.map(\.value)
    }
}
