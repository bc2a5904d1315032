// The SSM ops beyond the fixture table: the recurrent step form continues the scan exactly, and the scan op equals
// the same recurrence composed from elementary tensor ops (values and gradients).
import LMTensor
import XCTest
import _TestSupport

final class SSMOpTests: XCTestCase {
    let (B, L, D, N) = (2, 7, 3, 4)

    func inputs(seed: UInt64) -> [Tensor] {
        let g = Generator(seed: seed)
        return [Tensor.randn([B, L, D], generator: g, dtype: .float64), (Tensor.randn([B, L, D], generator: g, dtype: .float64) * 0.5).exp() * 0.1,
                -(Tensor.randn([D, N], generator: g, dtype: .float64).exp()), Tensor.randn([B, L, N], generator: g, dtype: .float64),
                Tensor.randn([B, L, N], generator: g, dtype: .float64), Tensor.randn([D], generator: g, dtype: .float64)]
    }

    /// A width at or above `SSM.fftConvolutionMinimumWidth` takes the FFTW path: gradcheck in float64, and the same
    /// values and gradients as the direct path (threshold raised) on the same inputs.
    func testLongCausalConv1dThroughFFTGradchecksAndEqualsDirect() {
        let saved = SSM.fftConvolutionMinimumWidth
        defer { SSM.fftConvolutionMinimumWidth = saved }
        let g = Generator(seed: 4)
        let x = [Tensor.randn([2, 9, 3], generator: g, dtype: .float64), Tensor.randn([3, 9], generator: g, dtype: .float64),
                 Tensor.randn([3], generator: g, dtype: .float64)].map { $0.requiringGrad() }
        func conv(_ t: [Tensor]) -> Tensor { t[0].causalConv1d(weight: t[1], bias: t[2]) }
        var results: [[[Double]]] = []
        for threshold in [9, 10] {  // K = 9: FFT, then direct
            SSM.fftConvolutionMinimumWidth = threshold
            gradcheck("causal_conv1d K 9, FFT from \(threshold)", x, conv)
            for t in x { t.grad = nil }
            (conv(x) * Tensor.randn([2, 9, 3], generator: Generator(seed: 5), dtype: .float64)).sum().backward()
            results.append([conv(x).toDoubles()] + x.map { $0.grad!.toDoubles() })
        }
        for (a, b) in zip(results[0], results[1]) { assertClose(a, b, rtol: 1e-10, atol: 1e-12, "FFT == direct") }
    }

    func testStepByStepEqualsFullScan() {
        let x = inputs(seed: 1)
        let full = x[0].selectiveScan(delta: x[1], A: x[2], B: x[3], C: x[4], D: x[5]).toDoubles()
        let state = Tensor(zeros: [B, D, N], dtype: .float64)
        var pieces: [Tensor] = []
        for (lo, hi) in [(0, 3), (3, 4), (4, 7)] {  // a prefill of 3, one step, then 3 more
            pieces.append(x[0].slice(1, lo, hi).selectiveScanStep(delta: x[1].slice(1, lo, hi), A: x[2], B: x[3].slice(1, lo, hi),
                                                                   C: x[4].slice(1, lo, hi), D: x[5], state: state))
        }
        assertClose(Tensor.concat(pieces, axis: 1), full, rtol: 1e-12, atol: 1e-12, "step == full scan")
    }

    /// The recurrence written with exp, mul, sum per step (autograd through elementary ops) as the oracle.
    func testScanEqualsComposedRecurrenceWithGradients() {
        let a = inputs(seed: 2).map { t in Tensor(doubles: t.toDoubles(), shape: t.shape, requiresGrad: true) }
        let b = a.map { t in Tensor(doubles: t.toDoubles(), shape: t.shape, requiresGrad: true) }
        let w = Tensor.randn([B, L, D], generator: Generator(seed: 3), dtype: .float64)
        let fast = a[0].selectiveScan(delta: a[1], A: a[2], B: a[3], C: a[4], D: a[5])
        (fast * w).sum().backward()
        var h = Tensor(zeros: [B, D, N], dtype: .float64)
        var ys: [Tensor] = []
        for t in 0..<L {
            let ut = b[0].slice(1, t, t + 1).reshape([B, D, 1]), dt = b[1].slice(1, t, t + 1).reshape([B, D, 1])
            let Bt = b[3].slice(1, t, t + 1), Ct = b[4].slice(1, t, t + 1)  // [B, 1, N]
            h = (dt * b[2]).exp() * h + dt * ut * Bt                        // [B, D, N]
            ys.append((h * Ct).sum(axes: [2]) + ut.reshape([B, D]) * b[5])  // [B, D]
        }
        let slow = Tensor.stack(ys, axis: 1)
        (slow * w).sum().backward()
        assertClose(fast, slow.toDoubles(), rtol: 1e-12, atol: 1e-12, "scan values")
        for i in a.indices { assertClose(a[i].grad!, b[i].grad!.toDoubles(), rtol: 1e-10, atol: 1e-12, "gradient of input \(i)") }
    }
}
