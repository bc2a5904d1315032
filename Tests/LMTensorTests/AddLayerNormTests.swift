// `Tensor.addLayerNorm` (a pre-norm block's residual add and the following LayerNorm in one pass): values against
// PyTorch (Tests/Fixtures/tensor/add_layernorm.json, Scripts/fixtures/add_layernorm_fixture.py), finite-difference
// gradients in float64, and bitwise equality with `+` then `layerNorm` (values and gradients) on 1 and 2 threads.
import LMTensor
import XCTest
import _TestSupport

final class AddLayerNormTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            let name: String, shape: [Int], eps: Double
            let x: [Double], r: [Double], weight: [Double]?, bias: [Double]?, ws: [Double], wy: [Double]
            let sum32: [Double], y32: [Double], dx: [Double], dr: [Double], dweight: [Double]?, dbias: [Double]?
        }
        let cases: [Case]
    }

    func testMatchesTorch() throws {
        let fixture: Fixture = try loadFixture("tensor/add_layernorm.json")
        XCTAssertEqual(fixture.cases.count, 3)
        for c in fixture.cases {
            // float32 forward
            let x = Tensor(c.x.map(Float.init), shape: c.shape), r = Tensor(c.r.map(Float.init), shape: c.shape)
            let C = c.shape.last!
            let w = c.weight.map { Tensor($0.map(Float.init), shape: [C]) }, b = c.bias.map { Tensor($0.map(Float.init), shape: [C]) }
            let (s, y) = x.addLayerNorm(r, weight: w, bias: b, eps: c.eps)
            assertClose(s, c.sum32, rtol: 0, atol: 0, "\(c.name): sum")
            assertClose(y, c.y32, rtol: 1e-5, atol: 1e-5, "\(c.name): normed")
            // float64 gradients of Σ s ⊙ Ws + Σ y ⊙ Wy
            let xd = Tensor(doubles: c.x, shape: c.shape, requiresGrad: true), rd = Tensor(doubles: c.r, shape: c.shape, requiresGrad: true)
            let wd = c.weight.map { Tensor(doubles: $0, shape: [C], requiresGrad: true) }
            let bd = c.bias.map { Tensor(doubles: $0, shape: [C], requiresGrad: true) }
            let (sd, yd) = xd.addLayerNorm(rd, weight: wd, bias: bd, eps: c.eps)
            ((sd * Tensor(doubles: c.ws, shape: c.shape)).sum() + (yd * Tensor(doubles: c.wy, shape: c.shape)).sum()).backward()
            assertClose(xd.grad!, c.dx, rtol: 1e-10, atol: 1e-12, "\(c.name): dx")
            assertClose(rd.grad!, c.dr, rtol: 1e-10, atol: 1e-12, "\(c.name): dr")
            if let dweight = c.dweight { assertClose(wd!.grad!, dweight, rtol: 1e-10, atol: 1e-12, "\(c.name): dweight") }
            if let dbias = c.dbias { assertClose(bd!.grad!, dbias, rtol: 1e-10, atol: 1e-12, "\(c.name): dbias") }
        }
    }

    func testGradcheck() {
        let g = Generator(seed: 7)
        let inputs = [Tensor.randn([3, 5], generator: g, dtype: .float64), Tensor.randn([3, 5], generator: g, dtype: .float64),
                      Tensor.randn([5], mean: 1, std: 0.3, generator: g, dtype: .float64), Tensor.randn([5], generator: g, dtype: .float64)]
            .map { $0.requiringGrad() }
        // Both outputs, and their product (so each output's gradient flows into the other's inputs).
        gradcheck("addLayerNorm sum", inputs) { $0[0].addLayerNorm($0[1], weight: $0[2], bias: $0[3]).sum }
        gradcheck("addLayerNorm normed", inputs) { $0[0].addLayerNorm($0[1], weight: $0[2], bias: $0[3]).normed }
        gradcheck("addLayerNorm sum·normed", inputs) { t in
            let (s, y) = t[0].addLayerNorm(t[1], weight: t[2], bias: t[3])
            return s * y
        }
    }

    /// Values and gradients bitwise equal to the composition, at a GPT-small size split across threads.
    func testBitwiseEqualToAddThenLayerNormOnAnyThreadCount() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        let g = Generator(seed: 8)
        let (rows, C) = (768, 128)
        let x0 = Tensor.randn([rows, C], generator: g), r0 = Tensor.randn([rows, C], generator: g)
        let w0 = Tensor.randn([C], mean: 1, std: 0.2, generator: g), b0 = Tensor.randn([C], std: 0.1, generator: g)
        let seedS = Tensor.randn([rows, C], generator: g), seedY = Tensor.randn([rows, C], generator: g)
        func run(fused: Bool) -> [[Float]] {
            let x = x0.clone().requiringGrad(), r = r0.clone().requiringGrad(), w = w0.clone().requiringGrad(), b = b0.clone().requiringGrad()
            let s: Tensor, y: Tensor
            if fused { (s, y) = x.addLayerNorm(r, weight: w, bias: b) } else { s = x + r; y = s.layerNorm(weight: w, bias: b) }
            ((s * seedS).sum() + (y * seedY).sum()).backward()
            return [s.toArray(), y.toArray(), x.grad!.toArray(), r.grad!.toArray(), w.grad!.toArray(), b.grad!.toArray()]
        }
        Parallel.threadCount = 1
        let reference = run(fused: false)
        for threads in [1, 2] {
            Parallel.threadCount = threads
            XCTAssertEqual(run(fused: true), reference, "\(threads) thread(s)")
        }
    }
}
