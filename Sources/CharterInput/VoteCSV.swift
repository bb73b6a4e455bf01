/// A reader of `participant,statement,vote` lines (`charter analyze --votes-csv`), fed the file
/// in large blocks: a hand-written byte loop, no per-line allocation, three growing arrays out.
/// A first line that is not three numbers is a header; blank lines are skipped; spaces and
/// carriage returns are ignored; anything else is an error naming its line, never a trap.
public struct VoteCSVReader: Sendable {
    public private(set) var participants: [Int64] = []
    public private(set) var statements: [Int64] = []
    public private(set) var values: [Int8] = []
    /// Lines read so far.
    public private(set) var line = 0

    public struct BadLine: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var description: String { "line \(line) is not participant,statement,vote" }
        public init(line: Int) { self.line = line }
    }

    /// `linesBefore`: lines of the file before the first byte this reader is fed (a reader of
    /// a later part of the file names the right line in its errors, and sees no header).
    public init(expectedBytes: Int = 0, linesBefore: Int = 0) {
        // About 14 bytes a line in the usual files; a guess, the arrays grow as needed.
        let guess = max(0, expectedBytes / 12)
        participants.reserveCapacity(guess)
        statements.reserveCapacity(guess)
        values.reserveCapacity(guess)
        line = max(0, linesBefore)
    }

    /// Takes the votes read so far, leaving the reader empty (its line count stays).
    public mutating func takeVotes() -> (participants: [Int64], statements: [Int64], values: [Int8]) {
        defer { (participants, statements, values) = ([], [], []) }
        return (participants, statements, values)
    }

    /// Appends the votes of another reader, made with `linesBefore`, that read the lines right
    /// after this reader's, and counts its lines.
    public mutating func append(_ other: inout VoteCSVReader, linesBefore: Int) {
        let taken = other.takeVotes()
        participants += taken.participants
        statements += taken.statements
        values += taken.values
        line += other.line - linesBefore
    }

    public var count: Int { values.count }

    /// Reads every complete line of `bytes` and returns how many bytes that was (the rest, a
    /// line without its newline yet, is for the next call, prefixed to the next block).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(BadLine) -> Int {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
        var lastNewline = bytes.count - 1
        while lastNewline >= 0, base[lastNewline] != 10 { lastNewline -= 1 }
        guard lastNewline >= 0 else { return 0 }
        try parse(base, lastNewline + 1)
        return lastNewline + 1
    }

    /// Reads what is left at the end of the file (a last line without a newline).
    public mutating func finish(_ bytes: UnsafeRawBufferPointer) throws(BadLine) {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), !bytes.isEmpty else { return }
        try parse(base, bytes.count, endsWithoutNewline: true)
    }

    private mutating func parse(
        _ p: UnsafePointer<UInt8>, _ count: Int, endsWithoutNewline: Bool = false
    ) throws(BadLine) {
        var i = 0
        var fields: (Int64, Int64) = (0, 0)
        var field = 0
        var value: Int64 = 0
        var digits = 0
        var negative = false
        var bad = false
        var other = false
        while i < count || (endsWithoutNewline && i == count) {
            let byte: UInt8 = i < count ? p[i] : 10
            i += 1
            let digit = byte &- 48
            if digit < 10 {
                value = value &* 10 &+ Int64(digit)
                digits += 1
                continue
            }
            switch byte {
            case 44:  // ,
                if digits == 0 || digits > 18 || field > 1 {
                    bad = true
                } else if field == 0 {
                    fields.0 = negative ? -value : value
                } else {
                    fields.1 = negative ? -value : value
                }
                field += 1
                (value, digits, negative) = (0, 0, false)
            case 45:  // -
                if digits > 0 || negative { bad = true }
                negative = true
            case 13, 32: continue
            case 10:
                line += 1
                if !bad, field == 2, digits >= 1, digits <= 18, value <= 1 {
                    participants.append(fields.0)
                    statements.append(fields.1)
                    values.append(negative ? -Int8(value) : Int8(value))
                } else if !(line == 1 || (field == 0 && digits == 0 && !negative && !other && !bad)) {
                    throw BadLine(line: line)
                }
                (field, value, digits, negative, bad, other) = (0, 0, 0, false, false, false)
            default:
                bad = true
                other = true
            }
        }
    }
}
