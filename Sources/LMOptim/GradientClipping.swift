// Gradient clipping by global norm (torch.nn.utils.clip_grad_norm_): the norm of all gradients together, then every
// gradient scaled by min(1, maxNorm / (norm + 1e-6)). Per-tensor sums of squares are accumulated in double (SIMD
// float partial sums within 4096-element blocks), each norm rounded to float32 like torch's float32 norms; the scale is
// computed in float32 the way torch evaluates `max_norm / (total + 1e-6)`. torch's exact reduction order is not copied.

import Foundation
import LMTensor

/// A gradient norm that is NaN or infinite while `errorIfNonfinite` was requested.
public struct NonfiniteGradientNormError: Error, CustomStringConvertible {
    public let norm: Double
    public var description: String {
        "clip_grad_norm: the total norm of the gradients is \(norm); the gradients cannot be clipped"
    }
}

public enum GradientClipping {
    /// The norm order: Euclidean (2) or maximum absolute value (infinity).
    public enum NormType: Sendable { case l2, infinity }

    /// Scales the gradients of `parameters` in place so their global norm is at most `maxNorm` and returns the norm
    /// before clipping. Parameters without a gradient are skipped; with no gradients at all the norm is 0.
    @discardableResult
    public static func clipGradientNorm(_ parameters: [Tensor], maxNorm: Double, normType: NormType = .l2,
                                        errorIfNonfinite: Bool = false) throws -> Double {
        precondition(maxNorm >= 0, "clip_grad_norm: max norm \(maxNorm) must be non-negative")
        let grads = parameters.compactMap { $0.grad }.map { $0.dtype == .float32 ? $0.contiguous() : $0.to(.float32) }
        if grads.isEmpty { return 0 }
        var total: Float
        switch normType {
        case .l2:
            // Every gradient's blocks in one parallel pass; each tensor's block sums are then added in block order,
            // which is `UpdateKernels.sumOfSquares` of that tensor exactly.
            let pointers = grads.map { UnsafePointer($0.pointer(Float.self)) }
            let blocks = UpdateKernels.blocks(grads.map(\.count))
            var blockSums = [Double](repeating: 0, count: blocks.count)
            blockSums.withUnsafeMutableBufferPointer { sums in
                UpdateKernels.forBlocks(blocks) { b, block in
                    sums[b] = UpdateKernels.blockSumOfSquares(pointers[block.item] + block.start, block.count)
                }
            }
            var tensorSums = [Double](repeating: 0, count: grads.count)
            for (block, sum) in zip(blocks, blockSums) { tensorSums[block.item] += sum }
            var sumOfSquares = 0.0
            for s in tensorSums {
                let norm = Float(s.squareRoot())
                sumOfSquares += Double(norm) * Double(norm)
            }
            total = Float(sumOfSquares.squareRoot())
        case .infinity:
            total = 0
            for g in grads {
                let p = g.pointer(Float.self)
                for i in 0..<g.count where !(Swift.abs(p[i]) <= total) { total = Swift.abs(p[i]) }
            }
        }
        if errorIfNonfinite && !total.isFinite { throw NonfiniteGradientNormError(norm: Double(total)) }
        // torch: clip_coef = max_norm / (total + 1e-6), a Python float over a tensor = reciprocal(t) * max_norm.
        let coefficient = Swift.min((1 / (total + Float(1e-6))) * Float(maxNorm), 1)
        if coefficient != 1 {
            let pointers = grads.map { $0.pointer(Float.self) }
            UpdateKernels.forBlocks(UpdateKernels.blocks(grads.map(\.count))) { _, block in
                let p = pointers[block.item]
                for i in block.start..<block.start + block.count { p[i] *= coefficient }
            }
        }
        // Gradients converted above are copies: write them back.
        for (param, g) in zip(parameters.filter { $0.grad != nil }, grads) where param.grad !== g { param.grad = g }
        return Double(total)
    }
}
