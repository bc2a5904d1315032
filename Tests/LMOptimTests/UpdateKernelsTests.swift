// UpdateKernels: the SIMD8 block-parallel loops give exactly the scalar operation sequence, on 1 or 2 threads.
import Foundation
import XCTest
import LMTensor
@testable import LMOptim

/// The SIMD, block-parallel update kernels against the scalar operation sequence on a tensor large enough to be split
/// across threads (above LMKernels' Parallel.minimumWork) with a ragged tail; and independence from the thread count.
final class UpdateKernelsTests: XCTestCase {
    func testLargeAdamWAndSGDMatchScalarReferenceOnAnyThreadCount() {
        let n = 140_007 // above Parallel.minimumWork (131072), not a multiple of 8
        let start = Tensor.randn([n], generator: Generator(seed: 1)).toArray()
        let grads = (0..<3).map { Tensor.randn([n], std: 0.1, generator: Generator(seed: UInt64(10 + $0))) }
        func run(_ make: ([(name: String, tensor: Tensor)]) -> Optimizer, threads: Int) -> [Float] {
            let saved = Parallel.threadCount
            Parallel.threadCount = threads
            defer { Parallel.threadCount = saved }
            let p = Tensor(start, shape: [n], requiresGrad: true)
            let opt = make([("p", p)])
            for g in grads { p.grad = g; opt.step() }
            return p.toArray()
        }
        let adamw = { (ps: [(name: String, tensor: Tensor)]) -> Optimizer in AdamW(ps, learningRate: 1e-2, weightDecay: 0.1) }
        let sgd = { (ps: [(name: String, tensor: Tensor)]) -> Optimizer in
            SGD(ps, learningRate: 1e-2, momentum: 0.9, weightDecay: 0.01, nesterov: true)
        }
        let adamOne = run(adamw, threads: 1), adamTwo = run(adamw, threads: 2)
        XCTAssertEqual(adamOne, adamTwo)
        XCTAssertEqual(run(sgd, threads: 1), run(sgd, threads: 2))

        // Scalar reference of the same operation sequence (see Adam.swift).
        var p = start, m = [Float](repeating: 0, count: n), v = [Float](repeating: 0, count: n)
        for (t, gt) in grads.enumerated() {
            let g = gt.toArray(), step = Double(t + 1)
            let bias1 = 1 - Foundation.pow(0.9, step), bias2 = 1 - Foundation.pow(0.999, step)
            let negStep = Float(-(1e-2 / bias1)), bias2Sqrt = Float(Foundation.pow(bias2, 0.5)), decay = Float(1 - 1e-2 * 0.1)
            for i in 0..<n {
                p[i] *= decay
                m[i] = m[i].addingProduct(Float(1 - 0.9), g[i] - m[i])
                v[i] = (v[i] * Float(0.999)).addingProduct(Float(1 - 0.999) * g[i], g[i])
                p[i] = p[i] + negStep * m[i] / (v[i].squareRoot() / bias2Sqrt + Float(1e-8))
            }
        }
        XCTAssertEqual(adamOne, p)
    }
}
