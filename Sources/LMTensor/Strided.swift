// Iteration over strided layouts: broadcasting rules (NumPy) and an odometer over all dimensions but the last,
// so elementwise kernels run a tight inner loop along the last axis for any mix of views.

/// The broadcast shape of `a` and `b` under NumPy rules; stops with `op` and both shapes if incompatible.
func broadcastShapes(_ a: [Int], _ b: [Int], _ op: String) -> [Int] {
    let n = max(a.count, b.count)
    var out = [Int](repeating: 1, count: n)
    for i in 0..<n {
        let da = i < n - a.count ? 1 : a[i - (n - a.count)]
        let db = i < n - b.count ? 1 : b[i - (n - b.count)]
        precondition(da == db || da == 1 || db == 1, "\(op): shapes \(a) and \(b) cannot be broadcast together")
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Strides that read a tensor of `shape`/`strides` as if broadcast to `target` (0 along broadcast dimensions).
func broadcastStrides(_ shape: [Int], _ strides: [Int], to target: [Int]) -> [Int] {
    let lead = target.count - shape.count
    var out = [Int](repeating: 0, count: target.count)
    for i in 0..<shape.count where shape[i] != 1 || target[lead + i] == 1 { out[lead + i] = strides[i] }
    return out
}

/// Calls `body(o0, o1, o2)` with the element offsets of each row start (every index of `shape` with the last axis at
/// 0) for three operands with the given strides. A 0-d shape is one row. The caller loops over the last axis.
@inline(__always)
func forEachRow(_ shape: [Int], _ s0: [Int], _ s1: [Int], _ s2: [Int], _ body: (Int, Int, Int) -> Void) {
    let r = shape.count
    if r <= 1 { body(0, 0, 0); return }
    if shape.contains(0) { return }
    var index = [Int](repeating: 0, count: r - 1)
    var o0 = 0, o1 = 0, o2 = 0
    while true {
        body(o0, o1, o2)
        var d = r - 2
        while d >= 0 {
            index[d] += 1
            o0 += s0[d]; o1 += s1[d]; o2 += s2[d]
            if index[d] < shape[d] { break }
            o0 -= s0[d] * shape[d]; o1 -= s1[d] * shape[d]; o2 -= s2[d] * shape[d]
            index[d] = 0
            d -= 1
        }
        if d < 0 { return }
    }
}

extension Tensor {
    /// Length and stride of the last axis (1 and 1 for a 0-d tensor).
    var innerExtent: (count: Int, stride: Int) { rank == 0 ? (1, 1) : (shape[rank - 1], strides[rank - 1]) }
}
