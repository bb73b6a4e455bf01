import CharterDomain
import CharterInput
import NIOCore

// The vote is the one request that arrives thousands of times a second. Foundation's JSONDecoder
// and JSONEncoder cost a tenth of the server's CPU per vote (scripts/bench/votes, perf), so the
// vote reads (CharterInput's `PlainVoteJSON`) and writes its own JSON. The tests hold both
// directions to Foundation's output.

extension API.VoteRequest {
    /// The request when `bytes` is exactly `{"statement": N, "vote": "…"}` in its plain form
    /// (see `PlainVoteJSON`); otherwise nil, and the caller decodes with JSONDecoder.
    init?(plainJSON bytes: ByteBufferView) {
        let plain: PlainVoteJSON.Vote?
        if let read = bytes.withContiguousStorageIfAvailable({ PlainVoteJSON.read(UnsafeRawBufferPointer($0)) }) {
            plain = read
        } else {
            plain = PlainVoteJSON.read(Array(bytes))
        }
        guard let plain else { return nil }
        self.init(statement: plain.statement, vote: plain.vote)
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
