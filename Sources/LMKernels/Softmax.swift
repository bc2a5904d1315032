// Softmax and log-softmax over the last axis of a [rows, C] buffer, forward and backward, parallel over rows.
// A row whose entries are all -inf gives zeros (softmax) / -inf (log-softmax) and a zero gradient, never NaN.
import RealModule

public enum Softmax {
    /// y[r] = exp(x[r] - max) / Σ exp(x[r] - max).
    @inlinable public static func forward<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, rows: Int, C: Int) {
        Parallel.forRows(rows, workPerRow: C * 4) { range in
            for r in range {
                let xr = x + r * C, yr = y + r * C
                let m = T.kernelMax(xr, C)
                if m == -T.infinity { for j in 0..<C { yr[j] = 0 }; continue }
                let inv = 1 / T.kernelExpShifted(xr, yr, C, by: m)
                for j in 0..<C { yr[j] *= inv }
            }
        }
    }

    /// dx = y ⊙ (dy - Σ dy ⊙ y), from the saved output y.
    @inlinable public static func backward<T: KernelScalar>(_ y: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, rows: Int, C: Int) {
        Parallel.forRows(rows, workPerRow: C * 3) { range in
            for r in range {
                let yr = y + r * C, dyr = dy + r * C, dxr = dx + r * C
                let s = T.kernelDot(yr, dyr, C)
                for j in 0..<C { dxr[j] = yr[j] * (dyr[j] - s) }
            }
        }
    }

    /// y[r] = x[r] - max - log Σ exp(x[r] - max).
    @inlinable public static func logForward<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, rows: Int, C: Int) {
        Parallel.forRows(rows, workPerRow: C * 4) { range in
            for r in range {
                let xr = x + r * C, yr = y + r * C
                let lse = logSumExp(xr, C, scratch: yr)
                for j in 0..<C { yr[j] = xr[j] - lse }
            }
        }
    }

    /// dx = dy - exp(y) · Σ dy, from the saved output y.
    @inlinable public static func logBackward<T: KernelScalar>(_ y: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, rows: Int, C: Int) {
        Parallel.forRows(rows, workPerRow: C * 3) { range in
            for r in range {
                let yr = y + r * C, dyr = dy + r * C, dxr = dx + r * C
                let s = T.kernelSum(dyr, C)
                for j in 0..<C { dxr[j] = dyr[j] - T.kernelExp(yr[j]) * s }
            }
        }
    }

    /// log Σ exp(x[0..<C]), using `scratch` (C elements) for the exponentials. -inf for an all -inf row.
    @inlinable @inline(__always)
    public static func logSumExp<T: KernelScalar>(_ x: UnsafePointer<T>, _ C: Int, scratch: UnsafeMutablePointer<T>) -> T {
        let m = T.kernelMax(x, C)
        if m == -T.infinity || m == T.infinity || m.isNaN { return m }
        return m + T.log(T.kernelExpShifted(x, scratch, C, by: m))
    }
}
