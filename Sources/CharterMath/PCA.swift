import Foundation

/// Two principal components of the centered, column-mean-imputed vote matrix (§3), computed
/// from the voted cells alone: an imputed cell is exactly zero once centered.
struct PrincipalComponents {
    var center: [Double]
    /// Two vectors of length m (zero where the matrix has no variance).
    var components: [[Double]]
    /// Passes over the votes (products with DᵀD, each for a block of up to eight vectors).
    var iterations: Int
    /// The components' eigenvalues of DᵀD (Ritz values) and their residuals ‖DᵀD·v − λv‖.
    var eigenvalues: [Double] = []
    var residuals: [Double] = []

    /// The column centers and each cell's centered value by column and vote: a cell of column j
    /// with vote v is `table[3 * j + v + 1]`, that is `v − center[j]`, or 0 in a mod-out column.
    struct Centered {
        var center: [Double]
        var table: [Double]
        /// Whether any cell is not zero once centered (else there is nothing to find).
        var hasVariance: Bool
        /// Columns with a cell that is not zero once centered: DᵀD is zero outside them, and so
        /// is every component.
        var active: [Bool]

        @inline(__always) func value(column j: Int32, vote: Int8) -> Double {
            table[3 * Int(j) + Int(vote) + 1]
        }
    }

    static func centered(_ matrix: VoteMatrix) -> Centered {
        let m = matrix.columnCount
        // Votes of each value per column, counted in parallel chunks (integers: any order).
        let chunks = Parallel.evenChunks(matrix.voteCount, minimum: 1 << 20)
        var partial = [Int](repeating: 0, count: max(1, chunks.count) * 3 * m)
        partial.withUnsafeMutableBufferPointer { counts in
            matrix.columns.withUnsafeBufferPointer { cols in
                matrix.values.withUnsafeBufferPointer { vals in
                    Parallel.forEach(chunks.count) { c in
                        let base = c * 3 * m
                        for e in chunks[c] { counts[base + 3 * Int(cols[e]) + Int(vals[e]) + 1] += 1 }
                    }
                }
            }
        }
        var center = [Double](repeating: 0, count: m)
        var table = [Double](repeating: 0, count: 3 * m)
        var hasVariance = false
        var active = [Bool](repeating: false, count: m)
        for j in 0..<m {
            var byValue = [0, 0, 0]
            for c in 0..<max(1, chunks.count) {
                for v in 0..<3 { byValue[v] += partial[c * 3 * m + 3 * j + v] }
            }
            let total = byValue[0] + byValue[1] + byValue[2]
            guard !matrix.moderatedOut[j], total > 0 else { continue }
            // The sum of the votes is an exact integer, as the plain sum of ±1 and 0 was.
            center[j] = Double(byValue[2] - byValue[0]) / Double(total)
            for v in 0..<3 { table[3 * j + v] = Double(v - 1) - center[j] }
            if byValue.filter({ $0 > 0 }).count > 1 {
                hasVariance = true
                active[j] = true
            }
        }
        return Centered(center: center, table: table, hasVariance: hasVariance, active: active)
    }

    /// The top two eigenvectors of DᵀD by block Lanczos with thick restarts: a block of eight
    /// vectors per pass over the votes, Rayleigh–Ritz over every vector found so far (up to 48),
    /// the residuals of the leading Ritz vectors as the next block, and a stop when both leading
    /// residuals are small: ‖DᵀD·v − λv‖ ≤ tolerance · λ₁. Its convergence depends on the square
    /// root of the spectral gap, so close eigenvalues take few passes more, not hundreds.
    /// `start`: vectors to begin with (the previous analysis' components: warm start), then
    /// fixed vectors, so that results are deterministic.
    static func compute(
        _ matrix: VoteMatrix, centered: Centered, start: [[Double]]?, tolerance: Double, maxIterations: Int
    ) -> PrincipalComponents {
        let m = matrix.columnCount
        let n = matrix.rowCount
        let zero = PrincipalComponents(
            center: centered.center,
            components: [[Double](repeating: 0, count: m), [Double](repeating: 0, count: m)], iterations: 0)
        guard n >= 2, m >= 2, centered.hasVariance else { return zero }

        let blockSize = min(m, 8)
        let maxBasis = min(m, 48)
        let keep = max(2, min(16, maxBasis - blockSize))
        var candidates: [[Double]] = []
        for v in start ?? [] where candidates.count < blockSize && v.count == m && v.contains(where: { $0 != 0 }) {
            candidates.append(v)
        }
        while candidates.count < blockSize {
            let b = candidates.count
            // A fixed, deterministic start that is not orthogonal to anything in particular.
            candidates.append(
                (0..<m).map { (j: Int) -> Double in
                    let step: Int = (j * (b + 3) + b * 7) % 17
                    return 1 + Double(step) / 17
                })
        }

        // Start inside the columns DᵀD can reach, so that a mod-out column's entries stay 0.
        for b in candidates.indices { for j in 0..<m where !centered.active[j] { candidates[b][j] = 0 } }
        var basis: [[Double]] = []
        var images: [[Double]] = []
        var h: [[Double]] = []
        var passes = 0
        var top: [[Double]] = []
        var topValues: [Double] = []
        var topResiduals: [Double] = []
        while true {
            let block = orthonormalized(candidates, against: basis, limit: min(blockSize, m - basis.count))
            if block.isEmpty { break }  // the basis spans an invariant subspace: its Ritz pairs are exact
            let product = gramProduct(matrix, centered: centered, block)
            passes += 1
            let old = basis.count
            basis += block
            images += product
            let s = basis.count
            for i in 0..<old { h[i] += [Double](repeating: 0, count: s - old) }
            for i in old..<s {
                h.append([Double](repeating: 0, count: s))
                for j in 0...i {
                    let value = (dot(basis[i], images[j]) + dot(basis[j], images[i])) / 2
                    h[i][j] = value
                    h[j][i] = value
                }
            }
            let ritz = ritzPairs(h, basis: basis, images: images, count: min(s, blockSize))
            let scale = max(ritz.values[0], 0)
            top = Array(ritz.vectors.prefix(2))
            topValues = Array(ritz.values.prefix(2))
            topResiduals = ritz.residualVectors.prefix(2).map { dot($0, $0).squareRoot() }
            let limit = tolerance * scale
            if scale == 0 || topResiduals.allSatisfy({ $0 <= limit }) || passes >= maxIterations || s >= m { break }
            // The next block: the residuals of the leading Ritz vectors not yet converged.
            candidates = []
            for (k, r) in ritz.residualVectors.enumerated() where k < 2 || dot(r, r).squareRoot() > limit {
                candidates.append(r)
            }
            if s + blockSize > maxBasis {
                // Thick restart: keep the leading Ritz vectors and their images.
                let kept = ritzPairs(h, basis: basis, images: images, count: min(keep, s))
                basis = kept.vectors
                images = kept.images
                h = (0..<basis.count).map { i in
                    (0..<basis.count).map { j in (dot(basis[i], images[j]) + dot(basis[j], images[i])) / 2 }
                }
            }
        }
        var components = top.map(fixedSign)
        while components.count < 2 { components.append([Double](repeating: 0, count: m)) }
        return PrincipalComponents(
            center: centered.center, components: components, iterations: passes, eigenvalues: topValues,
            residuals: topResiduals)
    }

    /// The leading `count` Ritz pairs of the basis (largest first): vectors Q·y, their images
    /// (DᵀD)·Q·y from the stored images, and residuals image − θ·vector.
    static func ritzPairs(
        _ h: [[Double]], basis: [[Double]], images: [[Double]], count: Int
    ) -> (values: [Double], vectors: [[Double]], images: [[Double]], residualVectors: [[Double]]) {
        let (values, vectors) = symmetricEigen(h)
        let order = values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }
        let m = basis.first?.count ?? 0
        var outValues: [Double] = []
        var outVectors: [[Double]] = []
        var outImages: [[Double]] = []
        var residuals: [[Double]] = []
        for index in order.prefix(count) {
            var u = [Double](repeating: 0, count: m)
            var w = [Double](repeating: 0, count: m)
            for a in basis.indices where vectors[a][index] != 0 {
                let y = vectors[a][index]
                basis[a].withUnsafeBufferPointer { q in
                    images[a].withUnsafeBufferPointer { g in
                        for j in 0..<m {
                            u[j] += y * q[j]
                            w[j] += y * g[j]
                        }
                    }
                }
            }
            let theta = values[index]
            outValues.append(theta)
            outVectors.append(u)
            outImages.append(w)
            residuals.append((0..<m).map { w[$0] - theta * u[$0] })
        }
        return (outValues, outVectors, outImages, residuals)
    }

    /// The candidates made orthonormal to `basis` and to each other (classical Gram–Schmidt,
    /// twice); a candidate that (nearly) lies in the span so far is dropped. At most `limit`.
    static func orthonormalized(_ candidates: [[Double]], against basis: [[Double]], limit: Int) -> [[Double]] {
        var accepted: [[Double]] = []
        for candidate in candidates where accepted.count < limit {
            var v = candidate
            let before = dot(v, v).squareRoot()
            guard before > 0, before.isFinite else { continue }
            for _ in 0..<2 {
                for q in basis + accepted {
                    let p = dot(v, q)
                    if p != 0 { axpy(-p, q, &v) }
                }
            }
            let norm = dot(v, v).squareRoot()
            guard norm > 1e-10 * before, norm > 1e-300 else { continue }
            for j in v.indices { v[j] /= norm }
            accepted.append(v)
        }
        return accepted
    }

    /// (DᵀD)·v for each vector of the block (at most eight), in one pass over the cells. The
    /// block is packed into one SIMD lane per vector, so every cell costs two vector
    /// multiply-adds. The rows are cut into chunks fixed by the data (`Parallel.rowChunks`), run
    /// on every core, and the chunks' sums are added in chunk order: the same bytes on every run.
    /// One chunk (small matrices) gives exactly the plain loop over the cells.
    static func gramProduct(_ matrix: VoteMatrix, centered: Centered, _ block: [[Double]]) -> [[Double]] {
        let m = matrix.columnCount
        let b = block.count
        precondition(b <= 8, "the block is at most eight vectors")
        var packed = [SIMD8<Double>](repeating: .zero, count: m)
        for a in 0..<b { for j in 0..<m { packed[j][a] = block[a][j] } }
        let chunks = Parallel.rowChunks(rowStart: matrix.rowStart)
        var partial = [SIMD8<Double>](repeating: .zero, count: max(1, chunks.count) * m)
        packed.withUnsafeBufferPointer { v in
            partial.withUnsafeMutableBufferPointer { out in
                centered.table.withUnsafeBufferPointer { t in
                    matrix.values.withUnsafeBufferPointer { vals in
                        matrix.columns.withUnsafeBufferPointer { cols in
                            matrix.rowStart.withUnsafeBufferPointer { starts in
                                Parallel.forEach(chunks.count) { c in
                                    let o = out.baseAddress! + c * m
                                    for i in chunks[c] {
                                        let range = starts[i]..<starts[i + 1]
                                        var rowDot = SIMD8<Double>.zero
                                        for e in range {
                                            let j = Int(cols[e])
                                            rowDot += t[3 * j + Int(vals[e]) + 1] * v[j]
                                        }
                                        for e in range {
                                            let j = Int(cols[e])
                                            o[j] += t[3 * j + Int(vals[e]) + 1] * rowDot
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if chunks.count > 1 {
            for c in 1..<chunks.count { for j in 0..<m { partial[j] += partial[c * m + j] } }
        }
        return (0..<b).map { a in (0..<m).map { j in partial[j][a] } }
    }

    /// A plain pass over the same arrays as `gramProduct` (each cell's column and value read
    /// once, summed): the memory-bandwidth floor a pass cannot beat. For benchmarks.
    static func plainPass(_ matrix: VoteMatrix) -> Int {
        let chunks = Parallel.evenChunks(matrix.voteCount, minimum: 1 << 20)
        var sums = [Int](repeating: 0, count: max(1, chunks.count))
        sums.withUnsafeMutableBufferPointer { out in
            matrix.columns.withUnsafeBufferPointer { cols in
                matrix.values.withUnsafeBufferPointer { vals in
                    Parallel.forEach(chunks.count) { c in
                        var s = 0
                        for e in chunks[c] { s &+= Int(cols[e]) &+ Int(vals[e]) }
                        out[c] = s
                    }
                }
            }
        }
        return sums.reduce(0, &+)
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                for i in 0..<min(a.count, b.count) { s += a[i] * b[i] }
            }
        }
        return s
    }

    static func axpy(_ alpha: Double, _ x: [Double], _ y: inout [Double]) {
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { y in
                for i in 0..<min(x.count, y.count) { y[i] += alpha * x[i] }
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

    /// Eigenvalues and eigenvectors (as columns) of a small symmetric matrix, by cyclic Jacobi,
    /// until the off-diagonal part is below rounding relative to the whole.
    static func symmetricEigen(_ matrix: [[Double]]) -> (values: [Double], vectors: [[Double]]) {
        let n = matrix.count
        var a = [Double](repeating: 0, count: n * n)
        var v = [Double](repeating: 0, count: n * n)
        var total = 0.0
        for i in 0..<n {
            v[i * n + i] = 1
            for j in 0..<n {
                a[i * n + j] = matrix[i][j]
                total += matrix[i][j] * matrix[i][j]
            }
        }
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<n { off += a[p * n + q] * a[p * n + q] } }
            if off < 1e-300 || off <= 1e-30 * total { break }
            for p in 0..<n {
                for q in (p + 1)..<n where a[p * n + q] != 0 {
                    let apq = a[p * n + q]
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + sqrt(theta * theta + 1))
                    let c = 1 / sqrt(t * t + 1)
                    let s = t * c
                    for k in 0..<n {
                        let akp = a[k * n + p]
                        let akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p * n + k]
                        let aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                    a[p * n + q] = 0
                    a[q * n + p] = 0
                    for k in 0..<n {
                        let vkp = v[k * n + p]
                        let vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq
                        v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<n).map { a[$0 * n + $0] }, (0..<n).map { i in Array(v[(i * n)..<(i * n + n)]) })
    }
}
