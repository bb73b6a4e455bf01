import CharterDomain
import NIOCore

// The vote is the one request that arrives thousands of times a second. Foundation's JSONDecoder
// and JSONEncoder cost a tenth of the server's CPU per vote (scripts/bench/votes, perf), so the
// vote reads and writes its own JSON. The reader only takes the plain shape every client sends,
// `{"statement": 12, "vote": "agree"}`, and leaves anything else (escapes, extra fields, other
// number forms, duplicate keys) to JSONDecoder, which also words the errors. The tests hold both
// directions to Foundation's output.

extension API.VoteRequest {
    /// The request when `bytes` is exactly an object with the integer `statement` and the
    /// plain-ASCII string `vote`, in either order, with JSON whitespace anywhere between; otherwise
    /// nil, and the caller decodes with JSONDecoder.
    init?(plainJSON bytes: ByteBufferView) {
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
        self.init(statement: statement, vote: vote)
    }
}

/// Reads the plain subset of JSON the vote request needs. Every method skips the whitespace
/// before its token and returns nil (or false) without a guarantee of where it stopped.
private struct PlainJSONScanner {
    private let bytes: ByteBufferView
    private var index: ByteBufferView.Index

    init(_ bytes: ByteBufferView) {
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

extension API.VoteResult {
    /// The same bytes as `Response.json(self)` (sorted snake_case keys, absent optionals left out):
    /// a test compares the two.
    var jsonBytes: ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(160)
        out.writeStaticString("{")
        if let changedFrom {
            out.writeStaticString("\"changed_from\":")
            out.writeJSONString(changedFrom)
            out.writeStaticString(",")
        }
        if let completionCode {
            out.writeStaticString("\"completion_code\":")
            out.writeJSONString(completionCode)
            out.writeStaticString(",")
        }
        out.writeStaticString("\"progress\":{\"total\":")
        out.writeString(String(progress.total))
        out.writeStaticString(",\"voted\":")
        out.writeString(String(progress.voted))
        out.writeStaticString("},\"statement\":")
        out.writeString(String(statement))
        out.writeStaticString(",\"vote\":")
        out.writeJSONString(vote)
        out.writeStaticString("}")
        return out
    }
}

extension ByteBuffer {
    private static let lowercaseHexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string escaped as Foundation's JSONEncoder does with `.withoutEscapingSlashes`.
    mutating func writeJSONString(_ text: String) {
        writeStaticString("\"")
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): writeStaticString("\\\"")
            case UInt8(ascii: "\\"): writeStaticString("\\\\")
            case 0x08: writeStaticString("\\b")
            case 0x0C: writeStaticString("\\f")
            case 0x0A: writeStaticString("\\n")
            case 0x0D: writeStaticString("\\r")
            case 0x09: writeStaticString("\\t")
            case 0x00..<0x20:
                writeStaticString(byte < 0x10 ? "\\u000" : "\\u001")
                writeInteger(Self.lowercaseHexDigits[Int(byte & 0xF)])
            default: writeInteger(byte)
            }
        }
        writeStaticString("\"")
    }
}
