// Cross-entropy fused with log-softmax over [N, C] logits and integer targets (torch.nn.functional.cross_entropy
// semantics: ignore_index, label_smoothing ε mixing the one-hot target with the uniform distribution).
// Forward keeps only the per-row logsumexp; backward recomputes softmax from the logits, so the [N, C] probability
// matrix is never stored.
import RealModule

public enum CrossEntropy {
    /// Per-row losses: loss[i] = -(1-ε)·logp[i, t_i] - (ε/C)·Σ_c logp[i, c]; 0 for rows whose target == ignoreIndex.
    /// Writes lse[i] (the row logsumexp) for the backward pass. Targets outside [0, C) other than ignoreIndex are a
    /// programmer error and stop with a message.
    @inlinable public static func forward<T: KernelScalar>(
        _ logits: UnsafePointer<T>, targets: UnsafePointer<Int>, rows N: Int, C: Int, ignoreIndex: Int, labelSmoothing eps: T,
        loss: UnsafeMutablePointer<T>, lse: UnsafeMutablePointer<T>
    ) {
        for i in 0..<N where targets[i] != ignoreIndex && (targets[i] < 0 || targets[i] >= C) {
            preconditionFailure("cross_entropy: target \(targets[i]) at row \(i) is outside [0, \(C)) and is not ignore_index \(ignoreIndex)")
        }
        Parallel.forRows(N, workPerRow: C * 2) { range in
            for i in range {
                let x = logits + i * C
                let t = targets[i]
                if t == ignoreIndex { loss[i] = 0; lse[i] = 0; continue }
                // logsumexp without scratch: max pass then one exp-sum pass in SIMD-friendly chunks.
                let m = T.kernelMax(x, C)
                var s: T = 0
                withUnsafeTemporaryAllocation(of: T.self, capacity: 256) { buf in
                    let b = buf.baseAddress!
                    var j = 0
                    while j < C {
                        let n = min(256, C - j)
                        for k in 0..<n { b[k] = T.kernelExp(x[j + k] - m) }
                        s += T.kernelSum(UnsafePointer(b), n)
                        j += n
                    }
                }
                let l = m + T.log(s)
                lse[i] = l
                var value = (1 - eps) * (l - x[t])
                if eps != 0 { value += eps * (l - T.kernelSum(x, C) / T(C)) }
                loss[i] = value
            }
        }
    }

    /// dlogits[i, c] = scale[i] · (softmax[i, c] - q[i, c]), q = (1-ε)·onehot(t_i) + ε/C; zero rows for ignored targets.
    /// `scale[i]` is the upstream gradient of loss[i] (for a mean reduction: dLoss / count of non-ignored rows).
    @inlinable public static func backward<T: KernelScalar>(
        _ logits: UnsafePointer<T>, targets: UnsafePointer<Int>, lse: UnsafePointer<T>, rowScale: UnsafePointer<T>,
        rows N: Int, C: Int, ignoreIndex: Int, labelSmoothing eps: T, dLogits: UnsafeMutablePointer<T>
    ) {
        Parallel.forRows(N, workPerRow: C * 2) { range in
            for i in range {
                let x = logits + i * C, d = dLogits + i * C
                let t = targets[i]
                if t == ignoreIndex { for c in 0..<C { d[c] = 0 }; continue }
                let l = lse[i], g = rowScale[i]
                let smooth = eps / T(C)
                for c in 0..<C { d[c] = g * (T.kernelExp(x[c] - l) - smooth) }
                d[t] -= g * (1 - eps)
            }
        }
    }
}
