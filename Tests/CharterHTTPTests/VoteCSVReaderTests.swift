import CharterInput
import Testing

@Suite struct VoteCSVReaderTests {
    static func read(_ text: String, block: Int = 7) throws -> VoteCSVReader {
        var reader = VoteCSVReader()
        let bytes = Array(text.utf8)
        var kept: [UInt8] = []
        var at = 0
        while at < bytes.count {
            kept += bytes[at..<min(bytes.count, at + block)]
            at += block
            let used = try kept.withUnsafeBytes { buffer in try reader.feed(buffer) }
            kept.removeFirst(used)
        }
        try kept.withUnsafeBytes { buffer in try reader.finish(buffer) }
        return reader
    }

    @Test func readsLinesAcrossBlocksWithAHeaderBlankLinesAndCarriageReturns() throws {
        let reader = try Self.read("participant,statement,vote\r\n1,2,1\r\n\n 30 , 40 ,-1\n-5,6,0\n7,8,-0\n9,10,1")
        #expect(reader.participants == [1, 30, -5, 7, 9])
        #expect(reader.statements == [2, 40, 6, 8, 10])
        #expect(reader.values == [1, -1, 0, 0, 1])
        #expect(reader.line == 7)
    }

    @Test(arguments: [
        "1,2,1\n3,4,2\n", "1,2,1\n3,4\n", "1,2,1\n3,4,1,5\n", "1,2,1\nx,4,1\n", "1,2,1\n3,,1\n",
        "1,2,1\n1-2,4,1\n", "1,2,1\n99999999999999999999,4,1\n", "1,2,1\n3,4,--1\n", "1,2,1\n3,4,-\n",
    ])
    func aBadLineIsAnErrorNamingIt(_ text: String) throws {
        #expect(throws: VoteCSVReader.BadLine(line: 2)) { try Self.read(text) }
    }

    /// How `charter analyze` reads a block in two halves at once.
    @Test func aSecondReaderAppendsItsVotesAndCountsItsLines() throws {
        var first = VoteCSVReader()
        var second = VoteCSVReader(linesBefore: 1)
        let a = Array("participant,statement,vote\n1,2,1\n".utf8)
        let b = Array("3,4,-1\n5,6,0\n".utf8)
        #expect(try a.withUnsafeBytes { try first.feed($0) } == a.count)
        #expect(try b.withUnsafeBytes { try second.feed($0) } == b.count)
        first.append(&second, linesBefore: 1)
        #expect(first.participants == [1, 3, 5] && first.values == [1, -1, 0] && first.line == 4)
        // A second reader takes no first line for a header.
        var third = VoteCSVReader(linesBefore: 1)
        #expect(throws: VoteCSVReader.BadLine(line: 2)) {
            try Array("x,y,z\n".utf8).withUnsafeBytes { try third.feed($0) }
        }
    }

    @Test func aLastLineWithoutNewlineIsChecked() throws {
        #expect(throws: VoteCSVReader.BadLine(line: 2)) { try Self.read("1,2,1\n3,4") }
        let reader = try Self.read("1,2,1\n")
        #expect(reader.count == 1)
    }
}
