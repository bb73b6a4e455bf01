import Foundation
import Testing

@testable import CharterMath

/// The vectorised, chunked (DᵀD)·v: on one chunk exactly what the plain loop over the cells
/// gives (each SIMD lane sums in cell order, so not even the rounding may differ); on several
/// chunks the same bytes on every run, and the plain loop's value to rounding.
@Suite struct GramProductTests {
    static func cells(_ matrix: VoteMatrix, _ centered: PrincipalComponents.Centered) -> [Double] {
        (0..<matrix.voteCount).map { centered.value(column: matrix.columns[$0], vote: matrix.values[$0]) }
    }

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

    static func randomVotes(participants: Int, statements: Int, seed: UInt64) -> [AnalysisVote] {
        var generator = SplitMix(seed: seed)
        var votes: [AnalysisVote] = []
        for participant in 0..<participants {
            for statement in 0..<statements where generator.next() % 3 != 0 {
                votes.append(
                    AnalysisVote(
                        participant: Int64(participant), statement: Int64(statement),
                        value: Int8(Int(generator.next() % 3) - 1)))
            }
        }
        return votes
    }

    static func randomBlock(_ size: Int, _ m: Int, seed: UInt64) -> [[Double]] {
        var generator = SplitMix(seed: seed)
        return (0..<size).map { _ in (0..<m).map { _ in Double(generator.next() % 2001) / 1000 - 1 } }
    }

    @Test(arguments: [1, 2, 5, 6, 8])
    func equalsTheScalarLoopBitForBit(blockSize: Int) {
        let matrix = VoteMatrix(
            votes: Self.randomVotes(participants: 300, statements: 40, seed: UInt64(blockSize)), moderatedOut: [7])
        let centered = PrincipalComponents.centered(matrix)
        let block = Self.randomBlock(blockSize, matrix.columnCount, seed: 99)
        #expect(Parallel.rowChunks(rowStart: matrix.rowStart).count == 1)
        let fast = PrincipalComponents.gramProduct(matrix, centered: centered, block)
        let plain = Self.scalarGramProduct(matrix, cells: Self.cells(matrix, centered), block)
        #expect(fast == plain)
        #expect(fast.count == blockSize)
    }

    @Test func chunksGiveTheSameBytesEveryRun() throws {
        let matrix = VoteMatrix(
            votes: Self.randomVotes(participants: 9000, statements: 100, seed: 3), moderatedOut: [5])
        let chunks = Parallel.rowChunks(rowStart: matrix.rowStart)
        #expect(chunks.count > 1)
        #expect(chunks.first?.lowerBound == 0 && chunks.last?.upperBound == matrix.rowCount)
        for (a, b) in zip(chunks, chunks.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
        let centered = PrincipalComponents.centered(matrix)
        let block = Self.randomBlock(8, matrix.columnCount, seed: 4)
        let first = PrincipalComponents.gramProduct(matrix, centered: centered, block)
        let plain = Self.scalarGramProduct(matrix, cells: Self.cells(matrix, centered), block)
        for _ in 0..<3 {
            let again = PrincipalComponents.gramProduct(matrix, centered: centered, block)
            #expect(again.map { $0.map(\.bitPattern) } == first.map { $0.map(\.bitPattern) })
        }
        var worst = 0.0
        var scale = 0.0
        for (a, b) in zip(first.joined(), plain.joined()) {
            worst = max(worst, abs(a - b))
            scale = max(scale, abs(b))
        }
        #expect(worst <= 1e-12 * scale)
    }

    @Test func anAnalysisOnSeveralChunksGivesTheSameBytesTwice() throws {
        let votes = Self.randomVotes(participants: 9000, statements: 60, seed: 11).enumerated().map {
            // Three camps, so that there are groups to find.
            var vote = $0.element
            let camp = Int(vote.participant % 3)
            if Int(vote.statement) % 3 == camp, $0.offset % 4 != 0 { vote.value = 1 }
            return vote
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let (first, timings) = Analyzer.analyze(votes: votes)
        let second = Analyzer.analyze(votes: votes).result
        #expect(try encoder.encode(first) == encoder.encode(second))
        #expect(first.k >= 2)
        #expect(timings.pcaPasses > 0 && timings.pcaPasses < 60)
    }
}

@Suite struct BlockLanczosTests {
    @Test func aWarmStartTakesFewerPassesAndFindsTheSameComponents() throws {
        let votes = GramProductTests.randomVotes(participants: 2000, statements: 80, seed: 21)
        let matrix = VoteMatrix(votes: votes, moderatedOut: [])
        let centered = PrincipalComponents.centered(matrix)
        let cold = PrincipalComponents.compute(
            matrix, centered: centered, start: nil, tolerance: 1e-11, maxIterations: 2000)
        let warm = PrincipalComponents.compute(
            matrix, centered: centered, start: cold.components, tolerance: 1e-11, maxIterations: 2000)
        #expect(cold.iterations > 0)
        #expect(warm.iterations < cold.iterations)
        for c in 0..<2 {
            let cosine = PrincipalComponents.dot(cold.components[c], warm.components[c])
            #expect(cosine > 1 - 1e-12)
        }
        // The residual test held: ‖DᵀD·v − λv‖ ≤ tolerance · λ₁.
        for r in cold.residuals { #expect(r <= 1e-11 * cold.eigenvalues[0]) }
        // The components are eigenvectors: check one more product by hand.
        let product = PrincipalComponents.gramProduct(matrix, centered: centered, cold.components)
        for c in 0..<2 {
            var residual = 0.0
            for j in 0..<matrix.columnCount {
                let d = product[c][j] - cold.eigenvalues[c] * cold.components[c][j]
                residual += d * d
            }
            #expect(residual.squareRoot() <= 1e-9 * cold.eigenvalues[0])
        }
    }

    @Test func symmetricEigenFindsEveryPair() {
        let h: [[Double]] = [[4, 1, 0.5], [1, 3, 0.25], [0.5, 0.25, 1]]
        let (values, vectors) = PrincipalComponents.symmetricEigen(h)
        for k in 0..<3 {
            for i in 0..<3 {
                var hv = 0.0
                for j in 0..<3 { hv += h[i][j] * vectors[j][k] }
                #expect(abs(hv - values[k] * vectors[i][k]) < 1e-12)
            }
        }
    }
}

@Suite struct KMeansAssignmentTests {
    /// The sweep over centers sorted by x gives what the full scan gives, ties included.
    @Test func theSweepEqualsTheFullScan() {
        var generator = SplitMix(seed: 5)
        // A coarse grid makes exact ties between centers common.
        func coordinate() -> Double { Double(Int(generator.next() % 21) - 10) / 4 }
        let xs = (0..<5000).map { _ in coordinate() }
        let ys = (0..<5000).map { _ in coordinate() }
        var centers: [KMeans.Center] = []
        for id in 0..<40 { centers.append(KMeans.Center(id: (id * 17) % 40, x: coordinate(), y: coordinate())) }
        var fast = [Int](repeating: -1, count: xs.count)
        KMeans.assign(xs: xs, ys: ys, centers: centers, into: &fast)
        let order = centers.indices.sorted { centers[$0].id < centers[$1].id }
        for i in xs.indices {
            var best = 0
            var bestDistance = Double.infinity
            for (c, index) in order.enumerated() {
                let dx = xs[i] - centers[index].x
                let dy = ys[i] - centers[index].y
                let d = dx * dx + dy * dy
                if d < bestDistance {
                    bestDistance = d
                    best = c
                }
            }
            #expect(fast[i] == order[best])
        }
    }
}

@Suite struct VoteMatrixTests {
    @Test func theLaterVoteOnACellWinsInAnyRowOrder() {
        let columns = VoteColumns(
            participants: [10, 3, 10, 3, 10, 1_000_000_000_000],
            statements: [7, 2, 5, 2, 7, 2],
            values: [1, -1, 0, 1, -1, 1])
        let matrix = VoteMatrix(columns, moderatedOut: [])
        #expect(matrix.participants == [3, 10, 1_000_000_000_000])
        #expect(matrix.statements == [2, 5, 7])
        #expect(matrix.rowStart == [0, 1, 3, 4])
        #expect(matrix.columns == [0, 1, 2, 0])
        #expect(matrix.values == [1, 0, -1, 1])
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
