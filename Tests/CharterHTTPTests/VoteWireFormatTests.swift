import CharterDomain
import Foundation
import Hummingbird
import NIOCore
import Testing

@testable import CharterHTTP

/// The vote's own JSON reader and writer (VoteWireFormat.swift) against Foundation's: the reader
/// may only answer where JSONDecoder gives the same request, and the writer must give
/// JSONEncoder's bytes.
@Suite struct VoteWireFormatTests {
    private static func plain(_ text: String) -> API.VoteRequest? {
        API.VoteRequest(plainJSON: ByteBuffer(string: text).readableBytesView)
    }

    private static func foundation(_ text: String) -> API.VoteRequest? {
        try? RequestBodyReader.jsonDecoder.decode(API.VoteRequest.self, from: Data(text.utf8))
    }

    /// The reader either declines or agrees with JSONDecoder.
    private static func agrees(_ text: String) -> Bool {
        guard let fast = plain(text) else { return true }
        guard let slow = foundation(text) else { return false }
        return fast.statement == slow.statement && fast.vote == slow.vote
    }

    @Test(arguments: [
        (#"{"statement":12,"vote":"agree"}"#, 12, "agree"),
        (#"{"vote":"pass","statement":0}"#, 0, "pass"),
        (" \t\r\n{ \"statement\" : 7 ,\n \"vote\" : \"disagree\" } \n", 7, "disagree"),
        (#"{"statement":-3,"vote":"agree"}"#, -3, "agree"),
        (#"{"statement":9223372036854775807,"vote":"maybe"}"#, Int64.max, "maybe"),
        (#"{"statement":-9223372036854775808,"vote":""}"#, Int64.min, ""),
    ])
    func thePlainShapeIsReadWithoutFoundation(text: String, statement: Int64, vote: String) throws {
        let request = try #require(Self.plain(text))
        #expect(request.statement == statement)
        #expect(request.vote == vote)
        #expect(Self.agrees(text))
    }

    /// A body read into a buffer after other bytes: its view starts past index 0.
    @Test func aViewThatDoesNotStartAtZeroIsReadWhole() throws {
        var buffer = ByteBuffer(string: #"HTTP/1.1 junk{"statement":5,"vote":"agree"}"#)
        buffer.moveReaderIndex(forwardBy: 13)
        let request = try #require(API.VoteRequest(plainJSON: buffer.readableBytesView))
        #expect(request.statement == 5)
        #expect(request.vote == "agree")
        buffer.moveReaderIndex(forwardBy: 1)
        #expect(API.VoteRequest(plainJSON: buffer.readableBytesView) == nil)
    }

    @Test(arguments: [
        #"{"statement":12,"vote":"agree","extra":1}"#,  // JSONDecoder ignores the extra field
        #"{"statement":12,"statement":13,"vote":"agree"}"#,
        #"{"statement":12,"vote":"agr\u0065e"}"#,
        #"{"st\u0061tement":12,"vote":"agree"}"#,
        #"{"statement":12.0,"vote":"agree"}"#,
        #"{"statement":1e1,"vote":"agree"}"#,
        #"{"statement":012,"vote":"agree"}"#,
        #"{"statement":-0,"vote":"agree"}"#,
        #"{"statement":9223372036854775808,"vote":"agree"}"#,
        #"{"statement":-9223372036854775809,"vote":"agree"}"#,
        #"{"statement":99999999999999999999999,"vote":"agree"}"#,
        #"{"statement":"12","vote":"agree"}"#,
        #"{"statement":12,"vote":1}"#,
        #"{"statement":12,"vote":"agrée"}"#,
        #"{"statement":12,"vote":null}"#,
        #"{"statement":12}"#,
        #"{"vote":"agree"}"#,
        #"{}"#,
        #"{"statement":12,"vote":"agree"}x"#,
        #"{"statement":12,"vote":"agree"}{"#,
        #"{"statement":12,"vote":"agree",}"#,
        #"{"statement":12 "vote":"agree"}"#,
        #"[{"statement":12,"vote":"agree"}]"#,
        "\u{FEFF}{\"statement\":12,\"vote\":\"agree\"}",
        "{\"statement\":12,\"vote\":\"ag\tree\"}",
        "{\"statement\":12,\u{0B}\"vote\":\"agree\"}",
        #"{"Statement":12,"vote":"agree"}"#,
        #"{"statement":12,"vote":"agree""#,
        #"{"statement":"#,
        "",
    ])
    func anythingElseIsLeftToJSONDecoder(text: String) {
        #expect(Self.plain(text) == nil)
    }

    /// Random edits of a plain request: wherever the reader still answers, JSONDecoder must
    /// read the same statement and vote.
    @Test func randomEditsNeverMakeTheReaderDisagree() {
        var random = SplitMix64(seed: 0x5EED_CAFE)
        let alphabet = Array(#"{}[]":,.-+eE0123456789 \tnulltruefalse\u00agree"#.utf8) + [0x00, 0x0A, 0x7F, 0xC3, 0xA9]
        let seeds = [#"{"statement":12,"vote":"agree"}"#, #"{ "vote" : "pass" , "statement" : -45 }"#]
        var answered = 0
        for _ in 0..<20_000 {
            var bytes = Array(seeds[Int(random.next() % 2)].utf8)
            for _ in 0...(random.next() % 3) {
                let position = Int(random.next() % UInt64(bytes.count + 1))
                let byte = alphabet[Int(random.next() % UInt64(alphabet.count))]
                switch random.next() % 3 {
                case 0: bytes.insert(byte, at: position)
                case 1 where position < bytes.count: bytes[position] = byte
                default: if position < bytes.count { bytes.remove(at: position) }
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            if Self.plain(text) != nil { answered += 1 }
            #expect(Self.agrees(text), "\(text)")
        }
        // The edits leave some requests valid (whitespace, digits): the reader must have answered them.
        #expect(answered > 100)
    }

    @Test func theAnswerHasJSONEncodersBytes() throws {
        let codes: [String?] = [
            nil, "THANKS-42", "say \"hi\"\\now", "/path/", "tab\tnew\nline\rform\u{0C}back\u{08}",
            String((0..<32).map { Character(Unicode.Scalar(UInt8($0))) }) + "\u{7F}", "emoji 👩🏽‍🔬 rtl \u{202E}שלום",
            "zero\u{200B}width e\u{301} \u{2028}\u{2029}",
        ]
        let numbers: [(statement: Int64, voted: Int, total: Int)] = [
            (41, 3, 200), (0, 0, 0), (-7, 1, 1), (Int64.min, Int.max, Int.max), (Int64.max, 9, 10),
        ]
        for changedFrom in [nil, "agree", "disagree"] {
            for (code, number) in zip(codes, numbers.cycled(to: codes.count)) {
                let result = API.VoteResult(
                    statement: number.statement, vote: "pass", changedFrom: changedFrom,
                    progress: VotingProgress(voted: number.voted, total: number.total), completionCode: code)
                let expected = try Response.jsonEncoder.encode(result)
                let written = Data(result.jsonBytes.readableBytesView)
                #expect(
                    written == expected,
                    "\(String(decoding: written, as: UTF8.self)) ≠ \(String(decoding: expected, as: UTF8.self))")
            }
        }
    }
}

extension Array {
    /// This array repeated until it has `count` elements.
    fileprivate func cycled(to count: Int) -> [Element] {
        (0..<count).map { self[$0 % self.count] }
    }
}

/// A seeded generator, so a failure can be replayed.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
