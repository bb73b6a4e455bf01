import Foundation

/// Two principal components of the centered, column-mean-imputed vote matrix (§3), computed
/// from the voted cells alone: an imputed cell is exactly zero once centered.
struct PrincipalComponents {
    var center: [Double]
    /// Two vectors of length m (zero where the matrix has no variance).
    var components: [[Double]]
    var iterations: Int

    /// The centered values of the stored cells, in the matrix's cell order (zero in mod-out
    /// columns, whose every cell is zero).
    static func centeredCells(_ matrix: VoteMatrix) -> (center: [Double], cells: [Double]) {
        let m = matrix.columnCount
        var sums = [Double](repeating: 0, count: m)
        var counts = [Int](repeating: 0, count: m)
        for e in 0..<matrix.voteCount {
            let j = Int(matrix.columns[e])
            sums[j] += Double(matrix.values[e])
            counts[j] += 1
        }
        var center = [Double](repeating: 0, count: m)
        for j in 0..<m where !matrix.moderatedOut[j] && counts[j] > 0 {
            center[j] = sums[j] / Double(counts[j])
        }
        var cells = [Double](repeating: 0, count: matrix.voteCount)
        for e in 0..<matrix.voteCount {
            let j = Int(matrix.columns[e])
            cells[e] = matrix.moderatedOut[j] ? 0 : Double(matrix.values[e]) - center[j]
        }
        return (center, cells)
    }

    /// Block subspace iteration on DᵀD with Rayleigh–Ritz, from `start` (previous components,
    /// for a warm start) or a fixed vector, until the top two vectors stop moving.
    static func compute(
        _ matrix: VoteMatrix, center: [Double], cells: [Double], start: [[Double]]?, tolerance: Double,
        maxIterations: Int
    ) -> PrincipalComponents {
        let m = matrix.columnCount
        let n = matrix.rowCount
        let zero = PrincipalComponents(
            center: center, components: [[Double](repeating: 0, count: m), [Double](repeating: 0, count: m)],
            iterations: 0)
        guard n >= 2, m >= 2, cells.contains(where: { $0 != 0 }) else { return zero }

        let blockSize = min(m, 6)
        var block: [[Double]] = (0..<blockSize).map { b in
            if let start, b < start.count, start[b].count == m, start[b].contains(where: { $0 != 0 }) {
                return start[b]
            }
            // A fixed, deterministic start that is not orthogonal to anything in particular.
            return (0..<m).map { j in 1 + Double((j * (b + 3) + b * 7) % 17) / 17 }
        }
        orthonormalize(&block)
        var previousTop: [[Double]] = []
        var iterations = 0
        while iterations < maxIterations {
            iterations += 1
            let product = gramProduct(matrix, cells: cells, block)
            // Rayleigh–Ritz: the best approximations within the block's span.
            var h = [[Double]](repeating: [Double](repeating: 0, count: block.count), count: block.count)
            for a in 0..<block.count {
                for b in a..<block.count {
                    let value = dot(block[a], product[b])
                    h[a][b] = value
                    h[b][a] = value
                }
            }
            let (values, vectors) = symmetricEigen(h)
            let order = (0..<values.count).sorted { values[$0] > values[$1] }
            var rotated: [[Double]] = []
            for index in order {
                var v = [Double](repeating: 0, count: m)
                for a in 0..<block.count where vectors[a][index] != 0 {
                    let w = vectors[a][index]
                    for j in 0..<m { v[j] += w * product[a][j] }
                }
                rotated.append(v)
            }
            orthonormalize(&rotated)
            block = rotated
            let top = Array(block.prefix(2)).map(fixedSign)
            if previousTop.count == top.count {
                var change = 0.0
                for (old, new) in zip(previousTop, top) {
                    for j in 0..<m { change = max(change, abs(old[j] - new[j])) }
                }
                if change < tolerance {
                    previousTop = top
                    break
                }
            }
            previousTop = top
        }
        var components = previousTop
        while components.count < 2 { components.append([Double](repeating: 0, count: m)) }
        return PrincipalComponents(center: center, components: components, iterations: iterations)
    }

    /// (DᵀD)·v for each vector of the block, in one pass over the cells. The block (at most
    /// eight vectors) is packed into one SIMD lane per vector, so every cell costs two vector
    /// multiply-adds; each lane still sums in cell order, so the result is the scalar loop's.
    static func gramProduct(_ matrix: VoteMatrix, cells: [Double], _ block: [[Double]]) -> [[Double]] {
        let m = matrix.columnCount
        let b = block.count
        precondition(b <= 8, "the block is at most eight vectors")
        var packed = [SIMD8<Double>](repeating: .zero, count: m)
        for a in 0..<b { for j in 0..<m { packed[j][a] = block[a][j] } }
        var out = [SIMD8<Double>](repeating: .zero, count: m)
        packed.withUnsafeBufferPointer { v in
            out.withUnsafeMutableBufferPointer { o in
                cells.withUnsafeBufferPointer { d in
                    matrix.columns.withUnsafeBufferPointer { cols in
                        matrix.rowStart.withUnsafeBufferPointer { starts in
                            for i in 0..<matrix.rowCount {
                                let range = starts[i]..<starts[i + 1]
                                var rowDot = SIMD8<Double>.zero
                                for e in range { rowDot += d[e] * v[Int(cols[e])] }
                                for e in range { o[Int(cols[e])] += d[e] * rowDot }
                            }
                        }
                    }
                }
            }
        }
        return (0..<b).map { a in (0..<m).map { j in out[j][a] } }
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for i in a.indices { s += a[i] * b[i] }
        return s
    }

    /// Modified Gram–Schmidt; a vector that collapses becomes zero (rank below the block).
    static func orthonormalize(_ vectors: inout [[Double]]) {
        for a in vectors.indices {
            for b in 0..<a {
                let p = dot(vectors[a], vectors[b])
                if p != 0 { for j in vectors[a].indices { vectors[a][j] -= p * vectors[b][j] } }
            }
            let norm = sqrt(dot(vectors[a], vectors[a]))
            if norm > 1e-300 {
                for j in vectors[a].indices { vectors[a][j] /= norm }
            } else {
                for j in vectors[a].indices { vectors[a][j] = 0 }
            }
        }
    }

    /// A component's sign is arbitrary; Charter makes its largest entry positive (ties: the
    /// first), so the opinion map does not flip between recomputes.
    static func fixedSign(_ v: [Double]) -> [Double] {
        var best = 0
        for j in v.indices where abs(v[j]) > abs(v[best]) + 1e-12 { best = j }
        return v.isEmpty || v[best] >= 0 ? v : v.map { -$0 }
    }

    /// Eigenvalues and eigenvectors (as columns) of a small symmetric matrix, by cyclic Jacobi.
    static func symmetricEigen(_ matrix: [[Double]]) -> (values: [Double], vectors: [[Double]]) {
        let n = matrix.count
        var a = matrix
        var v = (0..<n).map { i in (0..<n).map { j in i == j ? 1.0 : 0.0 } }
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<n { off += a[p][q] * a[p][q] } }
            if off < 1e-300 { break }
            for p in 0..<n {
                for q in (p + 1)..<n where a[p][q] != 0 {
                    let theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + sqrt(theta * theta + 1))
                    let c = 1 / sqrt(t * t + 1)
                    let s = t * c
                    for k in 0..<n {
                        let akp = a[k][p]
                        let akq = a[k][q]
                        a[k][p] = c * akp - s * akq
                        a[k][q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p][k]
                        let aqk = a[q][k]
                        a[p][k] = c * apk - s * aqk
                        a[q][k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k][p]
                        let vkq = v[k][q]
                        v[k][p] = c * vkp - s * vkq
                        v[k][q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<n).map { a[$0][$0] }, v)
    }
}
