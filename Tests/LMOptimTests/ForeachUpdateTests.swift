// The multi-tensor step (all parameters' blocks in one parallel pass, torch's `foreach`) against one tensor at a time:
// AdamW with two groups, AMSGrad, a parameter that skips a step (its own step count), tensors above and below
// Parallel.minimumWork with ragged tails; and clipping's one-pass norm and scale against the per-tensor sums. Bitwise,
// on 1 and 2 threads.
import Foundation
import XCTest
import LMTensor
@testable import LMOptim

final class ForeachUpdateTests: XCTestCase {
    static let sizes = [140_007, 4096, 7, 65_536 + 5, 1, 3 * 4096]

    /// Parameters and three steps of gradients; parameter 2 has no gradient in the first step.
    static func problem() -> (start: [[Float]], grads: [[Tensor?]]) {
        let start = sizes.enumerated().map { Tensor.randn([$1], generator: Generator(seed: UInt64(100 + $0))).toArray() }
        let grads: [[Tensor?]] = (0..<3).map { step in
            sizes.enumerated().map { i, n in
                step == 0 && i == 2 ? nil : Tensor.randn([n], std: 0.1, generator: Generator(seed: UInt64(1000 + 10 * step + i)))
            }
        }
        return (start, grads)
    }

    func testAdamForeachStepEqualsOneOptimizerPerParameter() {
        let (start, grads) = Self.problem()
        for amsgrad in [false, true] {
            // Reference: one optimizer per parameter (each step a pass over that tensor alone), one thread.
            func reference() -> [[Float]] {
                let saved = Parallel.threadCount
                Parallel.threadCount = 1
                defer { Parallel.threadCount = saved }
                return start.enumerated().map { i, values in
                    let p = Tensor(values, shape: [values.count], requiresGrad: true)
                    let opt = AdamW(groups: [ParameterGroup([("p\(i)", p)], learningRate: i % 2 == 0 ? 1e-2 : 3e-3,
                                                            weightDecay: i % 2 == 0 ? 0.1 : 0)], amsgrad: amsgrad)
                    for step in grads { if let g = step[i] { p.grad = g.clone(); opt.step() } }
                    return p.toArray()
                }
            }
            func foreach(threads: Int) -> [[Float]] {
                let saved = Parallel.threadCount
                Parallel.threadCount = threads
                defer { Parallel.threadCount = saved }
                let ps = start.map { Tensor($0, shape: [$0.count], requiresGrad: true) }
                let named = ps.enumerated().map { (name: "p\($0)", tensor: $1) }
                let opt = AdamW(groups: [ParameterGroup(named.enumerated().filter { $0.offset % 2 == 0 }.map(\.element), learningRate: 1e-2, weightDecay: 0.1),
                                         ParameterGroup(named.enumerated().filter { $0.offset % 2 == 1 }.map(\.element), learningRate: 3e-3, weightDecay: 0)],
                                amsgrad: amsgrad)
                for step in grads {
                    for (p, g) in zip(ps, step) { p.grad = g?.clone() }
                    opt.step()
                }
                return ps.map { $0.toArray() }
            }
            let expected = reference()
            XCTAssertEqual(foreach(threads: 1), expected, "amsgrad \(amsgrad), 1 thread")
            XCTAssertEqual(foreach(threads: 2), expected, "amsgrad \(amsgrad), 2 threads")
        }
    }

    func testClippingOnePassEqualsPerTensorSums() throws {
        let (_, grads) = Self.problem()
        let g = grads[1].map { $0! }
        // The per-tensor computation: each tensor's norm from its own block sums, rounded to float, then the total.
        var sum = 0.0
        for t in g {
            let norm = Float(UpdateKernels.sumOfSquares(t.pointer(Float.self), t.count).squareRoot())
            sum += Double(norm) * Double(norm)
        }
        let total = Float(sum.squareRoot())
        let coefficient = Swift.min((1 / (total + Float(1e-6))) * Float(0.5), 1)
        XCTAssertLessThan(coefficient, 1)
        let expected = g.map { $0.toArray().map { $0 * coefficient } }
        for threads in [1, 2] {
            let saved = Parallel.threadCount
            Parallel.threadCount = threads
            defer { Parallel.threadCount = saved }
            let ps = g.map { t -> Tensor in let p = Tensor(zeros: t.shape, requiresGrad: true); p.grad = t.clone(); return p }
            let norm = try GradientClipping.clipGradientNorm(ps, maxNorm: 0.5)
            XCTAssertEqual(norm, Double(total), "\(threads) thread(s)")
            XCTAssertEqual(ps.map { $0.grad!.toArray() }, expected, "\(threads) thread(s)")
        }
    }
}
