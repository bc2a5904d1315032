// MixtureOfExperts against HF's MixtralSparseMoeBlock and load_balancing_loss_func, and a torch Switch layer with
// capacity (Scripts/fixtures/moe_fixture.py → Tests/Fixtures/models/moe.json); float64 gradchecks of the routing, the
// grouped experts and the router losses; the invariants the anchors state (k = E is the dense softmax mixture; uniform
// routing gives aux 1 in the Switch form and top_k in HF's).
import Foundation
import LMTensor
import XCTest
import _TestSupport
@testable import LMNN

final class MixtureOfExpertsTests: XCTestCase {
    private struct MixtralBlock: Decodable {
        let experts: Int, width: Int, hidden: Int, top_k: Int
        let x: [Double], r: [Double], y: [Double], gate: [Double], w1: [[Double]], w3: [[Double]], w2: [[Double]]
        let grad_x: [Double], grad_gate: [Double], grad_w1: [[Double]], grad_w3: [[Double]], grad_w2: [[Double]]
        let aux: Double, aux_masked: Double, z_loss: Double, key_lengths: [Int]
        let grad_gate_aux: [Double], grad_gate_aux_masked: [Double], grad_gate_z_loss: [Double]
    }
    private struct SwitchBlock: Decodable {
        let experts: Int, width: Int, hidden: Int, capacity_factor: Double
        let x: [Double], r: [Double], gate: [Double], fc: [[Double]], proj: [[Double]], y: [Double], dropped: [Int], aux: Double
        let grad_x: [Double], grad_gate: [Double], grad_fc: [[Double]], grad_proj: [[Double]]
    }
    private struct Fixture: Decodable { let mixtral_block: MixtralBlock; let switch_block: SwitchBlock }

    private func fixture() throws -> Fixture { try loadFixture("models/moe.json") }

    /// Overwrites a float32 parameter with `values`.
    private func set(_ t: Tensor, _ values: [Double]) {
        precondition(t.count == values.count)
        let p = t.pointer(Float.self)
        for (i, v) in values.enumerated() { p[i] = Float(v) }
    }

    private func makeLayer(width: Int, hidden: Int, experts: Int, topK: Int, routing: RouterKind, kind: FeedForwardKind,
                           capacityFactor: Double? = nil, jitter: Double = 0, seed: UInt64 = 1) -> MixtureOfExperts {
        let g = Generator(seed: seed)
        return MixtureOfExperts(width: width, hidden: hidden, experts: experts, topK: topK, routing: routing, kind: kind, bias: false,
                                dropout: 0, capacityFactor: capacityFactor, jitter: jitter, initStd: 0.5, outputStd: 0.5,
                                generator: g, dropoutGenerator: g)
    }

    private func mixtralLayer(_ f: MixtralBlock) -> MixtureOfExperts {
        let layer = makeLayer(width: f.width, hidden: f.hidden, experts: f.experts, topK: f.top_k, routing: .mixtral, kind: .swiglu)
        set(layer.router.weight, f.gate)
        for (e, expert) in layer.experts.enumerated() {
            set(expert.input.weight, f.w1[e] + f.w3[e])   // SwiGLU c_fc: gate rows, then up rows
            set(expert.output.weight, f.w2[e])
        }
        return layer
    }

    private func zeroGrads(_ m: Module) { for p in m.parameters() { p.grad = nil } }

    // MARK: - Against transformers

    func testForwardAndGradientsMatchHFMixtralSparseMoeBlock() throws {
        let f = try fixture().mixtral_block
        let layer = mixtralLayer(f)
        layer.eval()
        let x = Tensor(f.x.map(Float.init), shape: [2, 5, f.width], requiresGrad: true)
        let y = layer(x, keyLengths: nil)
        assertClose(y, f.y, rtol: 1e-4, atol: 1e-5, "output")
        (y * Tensor(f.r.map(Float.init), shape: y.shape)).sum().backward()
        assertClose(try XCTUnwrap(x.grad), f.grad_x, rtol: 1e-4, atol: 1e-5, "d input")
        assertClose(try XCTUnwrap(layer.router.weight.grad), f.grad_gate, rtol: 1e-4, atol: 1e-5, "d gate (through the routing weights)")
        for (e, expert) in layer.experts.enumerated() {
            assertClose(try XCTUnwrap(expert.input.weight.grad), f.grad_w1[e] + f.grad_w3[e], rtol: 1e-4, atol: 1e-5, "d w1|w3 of expert \(e)")
            assertClose(try XCTUnwrap(expert.output.weight.grad), f.grad_w2[e], rtol: 1e-4, atol: 1e-5, "d w2 of expert \(e)")
        }
    }

    func testRouterLossesMatchTransformersWithAndWithoutPadding() throws {
        let f = try fixture().mixtral_block
        let layer = mixtralLayer(f)
        layer.eval()
        let x = Tensor(f.x.map(Float.init), shape: [2, 5, f.width])
        for (keyLengths, expected, expectedGrad) in [(nil, f.aux, f.grad_gate_aux), (f.key_lengths, f.aux_masked, f.grad_gate_aux_masked)] {
            zeroGrads(layer)
            _ = layer(x, keyLengths: keyLengths)
            let record = try XCTUnwrap(layer.lastRecord)
            XCTAssertEqual(record.tokens, keyLengths?.reduce(0, +) ?? 10)
            let aux = try XCTUnwrap(MixtureOfExperts.loadBalancingLoss([record], form: .mixtral))
            assertClose(aux, [expected], rtol: 1e-5, atol: 1e-6, "HF load_balancing_loss_func, key lengths \(keyLengths ?? [])")
            aux.backward()
            assertClose(try XCTUnwrap(layer.router.weight.grad), expectedGrad, rtol: 1e-4, atol: 1e-6, "d gate of the aux loss")
        }
        XCTAssertNotEqual(f.aux, f.aux_masked, "the fixture's padding changes the loss, so the masked test can fail")
        zeroGrads(layer)
        _ = layer(x, keyLengths: nil)
        let z = try XCTUnwrap(MixtureOfExperts.zLoss([try XCTUnwrap(layer.lastRecord)]))
        assertClose(z, [f.z_loss], rtol: 1e-5, atol: 1e-6, "router z-loss")
        z.backward()
        assertClose(try XCTUnwrap(layer.router.weight.grad), f.grad_gate_z_loss, rtol: 1e-4, atol: 1e-6, "d gate of the z-loss")
    }

    // MARK: - Switch: top-1, capacity and dropping

    func testSwitchCapacityDropsLateTokensAndMatchesTorchReference() throws {
        let f = try fixture().switch_block
        let layer = makeLayer(width: f.width, hidden: f.hidden, experts: f.experts, topK: 1, routing: .switchTop1, kind: .gelu,
                              capacityFactor: f.capacity_factor)
        layer.eval()
        set(layer.router.weight, f.gate)
        for (e, expert) in layer.experts.enumerated() { set(expert.input.weight, f.fc[e]); set(expert.output.weight, f.proj[e]) }
        let N = f.x.count / f.width
        let x = Tensor(f.x.map(Float.init), shape: [1, N, f.width], requiresGrad: true)
        let y = layer(x, keyLengths: nil)
        assertClose(y, f.y, rtol: 1e-4, atol: 1e-5, "output")
        let record = try XCTUnwrap(layer.lastRecord)
        XCTAssertEqual(record.dropped, f.dropped.count)
        XCTAssertFalse(f.dropped.isEmpty, "the fixture must drop a token for this test to mean anything")
        let out = y.toArray()
        for n in f.dropped { XCTAssertEqual(Array(out[(n * f.width)..<((n + 1) * f.width)]), [Float](repeating: 0, count: f.width), "dropped token \(n)") }
        let aux = try XCTUnwrap(MixtureOfExperts.loadBalancingLoss([record], form: .switchTransformers))
        assertClose(aux, [f.aux], rtol: 1e-5, atol: 1e-6, "Switch aux loss")
        ((y * Tensor(f.r.map(Float.init), shape: y.shape)).sum() + aux).backward()
        assertClose(try XCTUnwrap(x.grad), f.grad_x, rtol: 1e-4, atol: 1e-5, "d input")
        assertClose(try XCTUnwrap(layer.router.weight.grad), f.grad_gate, rtol: 1e-4, atol: 1e-5, "d gate")
        for (e, expert) in layer.experts.enumerated() {
            assertClose(expert.input.weight.grad?.toDoubles() ?? [Double](repeating: 0, count: f.fc[e].count), f.grad_fc[e],
                        rtol: 1e-4, atol: 1e-5, "d fc of expert \(e)")
            assertClose(expert.output.weight.grad?.toDoubles() ?? [Double](repeating: 0, count: f.proj[e].count), f.grad_proj[e],
                        rtol: 1e-4, atol: 1e-5, "d proj of expert \(e)")
        }
    }

    func testCapacityCountsFirstChoicesBeforeSecondChoices() {
        // 4 tokens all preferring expert 0 then expert 1; capacity ⌈2·4·0.5/2⌉ = 2 per expert.
        let logits = Tensor([3, 1, 3, 1, 3, 1, 3, 1], shape: [4, 2])
        let (_, dispatch, record) = MixtureOfExperts.route(logits: logits, topK: 2, routing: .mixtral, capacityFactor: 0.5, mask: nil)
        XCTAssertEqual(dispatch.rows[0], [0, 1], "expert 0 keeps the first two tokens' first choices")
        XCTAssertEqual(dispatch.rows[1], [0, 1], "expert 1 keeps the first two tokens' second choices")
        XCTAssertEqual(record.dropped, 4)
        XCTAssertEqual(record.assignments, [4, 4], "balance statistics count the router's choices, before dropping")
    }

    // MARK: - Invariants

    func testTopKOfAllExpertsIsTheDenseSoftmaxMixture() {
        for kind in [FeedForwardKind.gelu, .swiglu] {
            let layer = makeLayer(width: 6, hidden: 5, experts: 3, topK: 3, routing: .mixtral, kind: kind, seed: 7)
            layer.eval()
            let x = Tensor.randn([2, 4, 6], generator: Generator(seed: 8))
            let y = noGrad { layer(x, keyLengths: nil) }
            let dense: Tensor = noGrad {
                let p = layer.router(x).softmax(axis: -1)                          // [2, 4, 3]
                return layer.experts.enumerated().map { e, expert in expert(x) * p.slice(2, e, e + 1) }.dropFirst()
                    .reduce(layer.experts[0](x) * p.slice(2, 0, 1), +)
            }
            assertClose(y.toDoubles(), dense.toDoubles(), rtol: 1e-5, atol: 1e-6, "k = E, \(kind)")
        }
    }

    func testEachExpertRunsOnceOnItsOwnRowsOnly() {
        // Grouped, never dense: 12 tokens × top-2 = 24 rows in all, one call per expert that got any.
        let x = Tensor.randn([12, 4], generator: Generator(seed: 13))
        let logits = Tensor.randn([12, 5], generator: Generator(seed: 14))
        let (weights, dispatch, _) = MixtureOfExperts.route(logits: logits, topK: 2, routing: .mixtral, capacityFactor: nil, mask: nil)
        var calls: [Int: [Int]] = [:]
        let experts: [(Tensor) -> Tensor] = (0..<5).map { e in { calls[e, default: []].append($0.shape[0]); return $0 * Double(e + 1) } }
        let y = MixtureOfExperts.combine(x, weights: weights, dispatch: dispatch, experts: experts)
        XCTAssertEqual(calls.values.map { $0.count }.max(), 1)
        XCTAssertEqual(calls.values.flatMap { $0 }.reduce(0, +), 24)
        for e in 0..<5 { XCTAssertEqual(calls[e] ?? [0], [dispatch.rows[e].count]) }
        // y[n] = Σⱼ w[n, j] · (e + 1) · x[n] for the chosen experts e.
        let w = weights.toDoubles(), xs = x.toDoubles()
        var expected = [Double](repeating: 0, count: 48)
        for e in 0..<5 { for (row, slot) in zip(dispatch.rows[e], dispatch.slots[e]) {
            for c in 0..<4 { expected[row * 4 + c] += w[slot] * Double(e + 1) * xs[row * 4 + c] }
        } }
        assertClose(y.toDoubles(), expected, rtol: 1e-6, atol: 1e-6)
    }

    func testUniformRoutingGivesTheAnchorsAuxValues() throws {
        // A zero router gives every expert probability 1/E: Switch's form is 1, HF's is top_k (transformers PR#28517's test: 2).
        for (E, k) in [(4, 1), (8, 2), (4, 3)] {
            let layer = makeLayer(width: 6, hidden: 4, experts: E, topK: k, routing: .mixtral, kind: .gelu)
            set(layer.router.weight, [Double](repeating: 0, count: E * 6))
            _ = layer(Tensor.randn([3, 5, 6], generator: Generator(seed: 2)), keyLengths: nil)
            let record = try XCTUnwrap(layer.lastRecord)
            assertClose(try XCTUnwrap(MixtureOfExperts.loadBalancingLoss([record], form: .switchTransformers)), [1], rtol: 1e-6, atol: 1e-6)
            assertClose(try XCTUnwrap(MixtureOfExperts.loadBalancingLoss([record], form: .mixtral)), [Double(k)], rtol: 1e-6, atol: 1e-6)
            // z-loss of zero logits: logsumexp = log E.
            assertClose(try XCTUnwrap(MixtureOfExperts.zLoss([record])), [Foundation.log(Double(E)) * Foundation.log(Double(E))], rtol: 1e-6, atol: 1e-6)
        }
    }

    func testPaddingIsNotRoutedNorCounted() throws {
        let layer = makeLayer(width: 6, hidden: 5, experts: 4, topK: 2, routing: .mixtral, kind: .swiglu, seed: 3)
        layer.eval()
        let x = Tensor.randn([2, 4, 6], generator: Generator(seed: 4))
        let full = noGrad { layer(x, keyLengths: nil) }.toArray()
        let padded = noGrad { layer(x, keyLengths: [4, 1]) }.toArray()
        let record = try XCTUnwrap(layer.lastRecord)
        XCTAssertEqual(record.tokens, 5)
        XCTAssertEqual(record.assignments.reduce(0, +), 10)
        for n in 0..<8 {
            let row = (n * 6)..<((n + 1) * 6)
            // Tokens 0...3: sequence 0; token 4: position 0 of sequence 1.
            if n <= 4 { XCTAssertEqual(Array(padded[row]), Array(full[row]), "real token \(n)") }
            else { XCTAssertEqual(Array(padded[row]), [Float](repeating: 0, count: 6), "padding \(n)") }
        }
    }

    func testJitterOnlyInTrainingAndOnlyOnTheRouterInput() throws {
        let x = Tensor.randn([2, 3, 6], generator: Generator(seed: 5))
        let plain = makeLayer(width: 6, hidden: 4, experts: 4, topK: 2, routing: .mixtral, kind: .gelu, seed: 9)
        let jittered = makeLayer(width: 6, hidden: 4, experts: 4, topK: 2, routing: .mixtral, kind: .gelu, jitter: 0.5, seed: 9)
        plain.eval(); jittered.eval()
        XCTAssertEqual(noGrad { jittered(x, keyLengths: nil) }.toArray(), noGrad { plain(x, keyLengths: nil) }.toArray(), "no jitter in eval mode")
        jittered.train()
        _ = noGrad { jittered(x, keyLengths: nil) }
        _ = noGrad { plain(x, keyLengths: nil) }
        XCTAssertNotEqual(try XCTUnwrap(jittered.lastRecord).probabilitySums.toArray(), try XCTUnwrap(plain.lastRecord).probabilitySums.toArray(),
                          "training mode jitters the router's input")
    }

    func testTrainingUsageCountsAndResets() throws {
        let layer = makeLayer(width: 6, hidden: 4, experts: 4, topK: 2, routing: .mixtral, kind: .gelu, capacityFactor: 0.5)
        _ = layer(Tensor.randn([2, 8, 6], generator: Generator(seed: 6)), keyLengths: nil)
        let usage = try XCTUnwrap(layer.takeUsage())
        XCTAssertEqual(usage.load.reduce(0, +), 1, accuracy: 1e-12)
        XCTAssertEqual(usage.dropped, Double(try XCTUnwrap(layer.lastRecord).dropped) / 32, accuracy: 1e-12)
        XCTAssertGreaterThan(usage.dropped, 0)
        XCTAssertNil(layer.takeUsage(), "reset after reading")
        layer.eval()
        _ = layer(Tensor.randn([2, 8, 6], generator: Generator(seed: 6)), keyLengths: nil)
        XCTAssertNil(layer.takeUsage(), "eval forwards are not training statistics")
    }

    func testParameterNamesFollowHFGate() {
        let layer = makeLayer(width: 4, hidden: 3, experts: 2, topK: 1, routing: .switchTop1, kind: .swiglu)
        XCTAssertEqual(layer.stateDictKeys(), ["gate.weight", "experts.0.c_fc.weight", "experts.0.c_proj.weight",
                                               "experts.1.c_fc.weight", "experts.1.c_proj.weight"])
        XCTAssertEqual(layer.unreachableTensors(), [])
    }

    // MARK: - Gradchecks (float64)

    func testGradcheckRoutingGroupedExpertsAndLosses() {
        let g = Generator(seed: 11)
        let (N, C, H, E) = (6, 4, 3, 3)
        let x = Tensor.randn([N, C], generator: g, dtype: .float64).requiringGrad()
        let gate = Tensor.randn([E, C], generator: g, dtype: .float64).requiringGrad()
        let w1 = (0..<E).map { _ in Tensor.randn([H, C], generator: g, dtype: .float64).requiringGrad() }
        let w2 = (0..<E).map { _ in Tensor.randn([C, H], generator: g, dtype: .float64).requiringGrad() }
        let experts: [(Tensor) -> Tensor] = (0..<E).map { e in { $0.linear(w1[e], bias: nil).gelu().linear(w2[e], bias: nil) } }
        let inputs = [x, gate] + w1 + w2
        for (routing, k, cf) in [(RouterKind.mixtral, 2, nil), (.switchTop1, 1, 1.0), (.mixtral, 2, 0.7)] as [(RouterKind, Int, Double?)] {
            let mask = [true, true, false, true, true, true]
            gradcheck("route + combine, \(routing) top-\(k) capacity \(cf ?? 0)", inputs) { t in
                let (weights, dispatch, _) = MixtureOfExperts.route(logits: t[0].linear(t[1], bias: nil), topK: k, routing: routing,
                                                                    capacityFactor: cf, mask: mask)
                return MixtureOfExperts.combine(t[0], weights: weights, dispatch: dispatch, experts: experts)
            }
            for form in [LoadBalancingForm.mixtral, .switchTransformers] {
                gradcheck("losses \(form), \(routing)", [x, gate]) { t in
                    let records = [t[0], t[0] * 0.5].map {
                        MixtureOfExperts.route(logits: $0.linear(t[1], bias: nil), topK: k, routing: routing, capacityFactor: cf, mask: mask).record
                    }
                    return MixtureOfExperts.loadBalancingLoss(records, form: form)! + MixtureOfExperts.zLoss(records)!
                }
            }
        }
    }

    func testIndexAddIsTheAdjointOfIndexSelect() {
        let g = Generator(seed: 12)
        let x = Tensor.randn([4, 3], generator: g, dtype: .float64).requiringGrad()
        gradcheck("index_add", [x]) { $0[0].indexAdd(axis: 0, indices: [2, 0, 2, 4], size: 5) }
        let y = Tensor([1, 2, 3, 4, 5, 6], shape: [3, 2]).indexAdd(axis: 0, indices: [1, 1, 0], size: 3)
        XCTAssertEqual(y.toArray(), [5, 6, 4, 6, 0, 0])
    }
}
