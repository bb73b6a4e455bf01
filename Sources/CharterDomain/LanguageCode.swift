import Foundation

/// A language as a BCP 47 tag, kept lower-case (`en`, `pt-br`, `ar`).
public enum LanguageCode {
    public static let `default` = "en"

    /// The tag lower-cased, or `invalid` naming `field` when it is not a language tag.
    public static func validated(_ raw: String, field: String) throws(CharterError) -> String {
        let code = raw.trimmingCharacters(in: .whitespaces).lowercased()
        guard isValid(code) else {
            throw .invalid(
                field: field,
                message: "\(field) must be a language tag such as en, de, pt-br or ar, not “\(raw.prefix(40))”")
        }
        return code
    }

    public static func isValid(_ code: String) -> Bool {
        let parts = code.split(separator: "-", omittingEmptySubsequences: false)
        guard let primary = parts.first, (2...3).contains(primary.count), parts.count <= 4,
            primary.allSatisfy({ $0.isASCII && $0.isLowercase })
        else { return false }
        return parts.dropFirst().allSatisfy { part in
            (1...8).contains(part.count) && part.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) }
        }
    }
}
