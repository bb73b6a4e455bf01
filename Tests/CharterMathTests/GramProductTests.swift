import Testing

@testable import CharterMath

/// The vectorised (DᵀD)·v must give exactly what the plain loop over the cells gives: each
/// SIMD lane sums in cell order, so not even the rounding may differ.
@Suite struct GramProductTests {
    static func scalarGramProduct(_ matrix: VoteMatrix, cells: [Double], _ block: [[Double]]) -> [[Double]] {
        block.map { v in
            var out = [Double](repeating: 0, count: matrix.columnCount)
            for i in 0..<matrix.rowCount {
                var rowDot = 0.0
                for e in matrix.rowStart[i]..<matrix.rowStart[i + 1] { rowDot += cells[e] * v[Int(matrix.columns[e])] }
                for e in matrix.rowStart[i]..<matrix.rowStart[i + 1] {
                    out[Int(matrix.columns[e])] += cells[e] * rowDot
                }
            }
            return out
        }
    }

    @Test(arguments: [1, 2, 5, 6, 8])
    func equalsTheScalarLoopBitForBit(blockSize: Int) {
        var generator = SplitMix(seed: UInt64(blockSize))
        var votes: [AnalysisVote] = []
        for participant in 0..<300 {
            for statement in 0..<40 where generator.next() % 3 != 0 {
                votes.append(
                    AnalysisVote(
                        participant: Int64(participant), statement: Int64(statement),
                        value: Int8(Int(generator.next() % 3) - 1)))
            }
        }
        let matrix = VoteMatrix(votes: votes, moderatedOut: [7])
        let (_, cells) = PrincipalComponents.centeredCells(matrix)
        let block = (0..<blockSize).map { _ in
            (0..<matrix.columnCount).map { _ in Double(generator.next() % 2001) / 1000 - 1 }
        }
        let fast = PrincipalComponents.gramProduct(matrix, cells: cells, block)
        let plain = Self.scalarGramProduct(matrix, cells: cells, block)
        #expect(fast == plain)
        #expect(fast.count == blockSize)
    }
}

/// A small deterministic generator, so the test needs no seedable source from Foundation.
struct SplitMix {
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
