/// The vote request's plain JSON form, `{"statement": 12, "vote": "agree"}`: an object with the
/// integer `statement` and the plain-ASCII string `vote`, in either order, with JSON whitespace
/// anywhere between. Anything else (escapes, extra fields, other number forms, duplicate keys)
/// is not read here: `read` answers nil and the caller decodes with a full JSON decoder, which
/// also words the errors. Never traps, whatever the bytes.
public enum PlainVoteJSON {
    public struct Vote: Sendable, Equatable {
        public var statement: Int64
        public var vote: String
    }

    public static func read(_ bytes: UnsafeRawBufferPointer) -> Vote? {
        var scanner = PlainJSONScanner(bytes)
        var statement: Int64?
        var vote: String?
        guard scanner.take(UInt8(ascii: "{")) else { return nil }
        for index in 0..<2 {
            if index == 1, !scanner.take(UInt8(ascii: ",")) { return nil }
            guard let key = scanner.plainString(), scanner.take(UInt8(ascii: ":")) else { return nil }
            switch key {
            case "statement" where statement == nil:
                guard let value = scanner.integer() else { return nil }
                statement = value
            case "vote" where vote == nil:
                guard let value = scanner.plainString() else { return nil }
                vote = value
            default:
                return nil
            }
        }
        guard scanner.take(UInt8(ascii: "}")), scanner.atEnd, let statement, let vote else { return nil }
        return Vote(statement: statement, vote: vote)
    }

    public static func read(_ bytes: [UInt8]) -> Vote? {
        bytes.withUnsafeBytes { read($0) }
    }
}

/// Reads the plain subset of JSON the vote request needs. Every method skips the whitespace
/// before its token and returns nil (or false) without a guarantee of where it stopped.
private struct PlainJSONScanner {
    private let bytes: UnsafeRawBufferPointer
    private var index: UnsafeRawBufferPointer.Index

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    var atEnd: Bool {
        mutating get {
            skipWhitespace()
            return index == bytes.endIndex
        }
    }

    mutating func take(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.endIndex, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// A string of printable ASCII without escapes.
    mutating func plainString() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: bytes[start..<index], as: UTF8.self)
                index += 1
                return text
            }
            guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else { return nil }
            index += 1
        }
        return nil
    }

    /// An integer in JSON's own form (no leading zeros, no fraction or exponent) that fits Int64.
    mutating func integer() -> Int64? {
        skipWhitespace()
        let negative = index < bytes.endIndex && bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        let start = index
        var magnitude: UInt64 = 0
        while index < bytes.endIndex, case let byte = bytes[index], byte >= UInt8(ascii: "0"),
            byte <= UInt8(ascii: "9")
        {
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            magnitude = sum
            index += 1
        }
        let digits = index - start
        guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        if index < bytes.endIndex {
            switch bytes[index] {
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): return nil
            default: break
            }
        }
        if negative {
            // "-0" is JSON but not an id anyone sends; JSONDecoder decides it.
            guard magnitude > 0, magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    private mutating func skipWhitespace() {
        while index < bytes.endIndex {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }
}
