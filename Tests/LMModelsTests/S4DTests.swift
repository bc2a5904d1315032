// S4D: the S4D-Lin/S4D-Inv initial values, the convolution view (training) equal to the recurrent view (decoding) at
// every position, parameter names, and training lowering the loss.
import Foundation
import LMModels
import LMOptim
import LMTensor
import XCTest
import _TestSupport

final class S4DTests: XCTestCase {
    func config(_ edit: (inout S4DConfig) -> Void = { _ in }) -> S4DConfig {
        var c = S4DConfig()
        c.vocabSize = 11; c.dModel = 8; c.nLayer = 2; c.dState = 8
        edit(&c)
        return c
    }

    /// S4D-Lin: A_n = −1/2 + iπn; S4D-Inv: A_n = −1/2 + i(N/π)(N/(2n+1) − 1) (s4 `dplr` "linear" / "inverse"); values
    /// for N = 4 worked by hand: Inv gives 12/π and 4/(3π).
    func testInitialization() {
        let lin = S4D(config { $0.dState = 4 }, initializer: Generator(seed: 1)).layers[0].layer.kernel
        XCTAssertEqual(lin.aImag.toArray(), (0..<16).map { Float(Double.pi * Double($0 % 2)) })
        XCTAssertEqual(lin.logAReal.toArray(), [Float](repeating: Float(log(0.5)), count: 16))
        let inv = S4D(config { $0.dState = 4; $0.initialization = .inv }, initializer: Generator(seed: 1)).layers[0].layer.kernel
        assertClose(inv.aImag.toArray().prefix(2).map { Double($0) }, [12 / Double.pi, 4 / (3 * Double.pi)], rtol: 1e-6, atol: 0)
        let dt = lin.logDt.toArray().map { exp(Double($0)) }
        XCTAssertTrue(dt.allSatisfy { $0 >= 0.001 * 0.999 && $0 <= 0.1 * 1.001 }, "\(dt)")
        let names = Set(S4D(config(), initializer: nil).stateDict().keys)
        XCTAssertTrue(names.isSuperset(of: ["layers.0.layer.kernel.log_dt", "layers.0.layer.kernel.log_A_real", "layers.0.layer.kernel.A_imag",
                                            "layers.0.layer.kernel.C", "layers.0.layer.D", "layers.0.layer.output_linear.weight",
                                            "layers.0.norm.weight", "embedding.weight", "norm_f.weight"]), "\(names)")
    }

    /// HiPPO-LegS, S4D-LegS, S4D-Lin and S4D-Inv against state-spaces/s4's formulas computed in float64 by
    /// Scripts/fixtures/s4d_init_fixture.py (Tests/Fixtures/models/s4d_init.json), N = 4, 8, 64; the model's A starts
    /// from them (real parts −1/2, as the reference's `legs_real`).
    func testHiPPOAndS4DInitializationsMatchS4Reference() throws {
        struct Case: Decodable {
            let N: Int
            let hippo_legs_A: [Double]?
            let hippo_legs_B: [Double], legs_real: [Double], legs_imag: [Double], lin_imag: [Double], inv_imag: [Double]
        }
        struct Fixture: Decodable { let cases: [Case] }
        let fixture: Fixture = try loadFixture("models/s4d_init.json")
        XCTAssertEqual(fixture.cases.map(\.N), [4, 8, 64])
        for c in fixture.cases {
            let (A, B) = S4DConfig.hippoLegS(c.N)
            if let want = c.hippo_legs_A { assertClose(A, want, rtol: 1e-12, atol: 1e-12, "HiPPO-LegS A, N \(c.N)") }
            assertClose(B, c.hippo_legs_B, rtol: 1e-12, atol: 1e-12, "HiPPO-LegS B, N \(c.N)")
            XCTAssertTrue(c.legs_real.allSatisfy { abs($0 + 0.5) < 1e-12 }, "s4 nplr: Re = −1/2 \(c.legs_real)")
            for (initialization, want) in [(S4DConfig.Initialization.legs, c.legs_imag), (.lin, c.lin_imag), (.inv, c.inv_imag)] {
                let config = config { $0.dState = c.N; $0.initialization = initialization }
                assertClose(config.initialImaginaryParts(), want, rtol: 1e-9, atol: 1e-9, "\(initialization), N \(c.N)")
                let kernel = S4D(config, initializer: Generator(seed: 1)).layers[0].layer.kernel
                assertClose(kernel.aImag.toArray().map(Double.init), (0..<8).flatMap { _ in want }, rtol: 1e-6, atol: 1e-5, "\(initialization) A_imag")
                XCTAssertEqual(kernel.logAReal.toArray(), [Float](repeating: Float(log(0.5)), count: 8 * c.N / 2))
            }
        }
    }

    /// Δ and A are exempt from weight decay (s4d.py registers them with `weight_decay: 0.0`); C is decayed.
    func testDeltaAndAAreExemptFromWeightDecay() {
        let names = S4D(config(), initializer: nil).noWeightDecayParameterNames()
        XCTAssertEqual(names, Set((0..<2).flatMap { i in ["log_dt", "log_A_real", "A_imag"].map { "layers.\(i).layer.kernel.\($0)" } }))
    }

    /// The recurrent view (prefill 4, then one token at a time, batch 2) equals the convolution view at every position,
    /// with the convolution computed through FFTW and directly.
    func testRecurrentViewEqualsConvolutionView() {
        let saved = SSM.fftConvolutionMinimumWidth
        defer { SSM.fftConvolutionMinimumWidth = saved }
        for (initialization, fftFrom) in [(S4DConfig.Initialization.lin, 1), (.inv, 1), (.lin, Int.max), (.inv, Int.max)] {
            SSM.fftConvolutionMinimumWidth = fftFrom
            let model = S4D(config { $0.initialization = initialization }, initializer: Generator(seed: 3))
            let (B, L, V) = (2, 10, 11)
            let tokens = (0..<(B * L)).map { ($0 * 7 + 3) % V }
            let full = noGrad { model.logits(tokens, batch: B, length: L) }.toArray()
            let state = model.makeDecodingState(batch: B)
            let lengths = [4, 1, 1, 1, 1, 1, 1]
            var start = 0
            for length in lengths {
                let chunk = (0..<B).flatMap { b in tokens[(b * L + start)..<(b * L + start + length)] }
                let got = model.decode(chunk, batch: B, length: length, state: state).toArray()
                for b in 0..<B {
                    for t in 0..<length {
                        let want = full[((b * L + start + t) * V)..<((b * L + start + t + 1) * V)].map { Double($0) }
                        assertClose(got[((b * length + t) * V)..<((b * length + t + 1) * V)].map { Double($0) }, Array(want),
                                    rtol: 1e-4, atol: 1e-4, "\(initialization) FFT from K \(fftFrom) batch \(b) position \(start + t)")
                    }
                }
                start += length
            }
            XCTAssertEqual(state.length, L)
        }
    }

    func testTrainingLowersTheLoss() {
        let model = S4D(config { $0.dModel = 16 }, initializer: Generator(seed: 5))
        let (first, last) = memorizationLosses(model.namedParameters()) { model.loss($0, generator: Generator(seed: 0)) }
        XCTAssertGreaterThan(first, 2.0)
        XCTAssertLessThan(last, 0.5, "loss \(first) -> \(last)")
    }
}
