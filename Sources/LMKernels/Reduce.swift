// Sums over the leading axis of a row-major matrix (bias gradients, `sum(axis: 0)`): rows are added into the output
// one after another, so each column's order is fixed and the result does not depend on the thread count. Summing
// through a transposed copy (the generic path) cost a strided copy plus a second pass over the data.

public enum Reduce {
    /// dst[c] = Σ_r src[r · cols + c] for c in 0..<cols. Threads split the columns.
    @inlinable public static func columnSums<T: KernelScalar>(_ src: UnsafePointer<T>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<T>) {
        Parallel.forRows(cols, workPerRow: rows) { range in
            let lo = range.lowerBound, n = range.count
            let out = dst + lo
            out.update(repeating: 0, count: n)
            for r in 0..<rows {
                let row = src + r * cols + lo
                for c in 0..<n { out[c] += row[c] }
            }
        }
    }
}
