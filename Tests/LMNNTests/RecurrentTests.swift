// RNN/LSTM/GRU against torch.nn (Tests/Fixtures/nn/recurrent.json from Scripts/fixtures/recurrent_fixture.py):
// parameter names and order, outputs, final states and every gradient; plus float64 finite-difference gradchecks of
// the one-op-per-layer-direction `recurrentLayer` on tiny shapes, for every cell, direction, lengths and proj_size;
// the standalone cells against torch.nn.RNNCell/LSTMCell/GRUCell (nn/recurrent_cells.json, same script); unbatched
// inputs against a batch of one; the fused kernel against the same step written with ordinary ops.
import XCTest
import LMNN
import LMTensor
import _TestSupport

private struct RecurrentFixture: Decodable {
    struct Case: Decodable {
        let name: String, kind: String
        let input_size: Int, hidden_size: Int, layers: Int
        let bidirectional: Bool, batch_first: Bool, proj_size: Int, bias: Bool
        let lengths: [Int]?
        let state_dict_keys: [String]
        let parameters: [String: FixtureTensor], grads: [String: FixtureTensor]
        let x: FixtureTensor, x_grad: FixtureTensor, output: FixtureTensor, h_n: FixtureTensor
        let r_out: FixtureTensor, r_h: FixtureTensor
        let c_n: FixtureTensor?, r_c: FixtureTensor?
        let h0: FixtureTensor?, h0_grad: FixtureTensor?, c0: FixtureTensor?, c0_grad: FixtureTensor?
    }
    let magic: String, version: Int
    let cases: [Case]
}

private struct RecurrentCellFixture: Decodable {
    struct Case: Decodable {
        let name: String, kind: String
        let input_size: Int, hidden_size: Int, bias: Bool, unbatched: Bool
        let state_dict_keys: [String]
        let parameters: [String: FixtureTensor], grads: [String: FixtureTensor]
        let x: FixtureTensor, x_grad: FixtureTensor, h: FixtureTensor, r_h: FixtureTensor
        let c: FixtureTensor?, r_c: FixtureTensor?
        let h0: FixtureTensor?, h0_grad: FixtureTensor?, c0: FixtureTensor?, c0_grad: FixtureTensor?
    }
    let magic: String, version: Int
    let cases: [Case]
}

final class RecurrentTests: XCTestCase {
    private func makeNetwork(_ c: RecurrentFixture.Case) -> RecurrentNetwork {
        let g = Generator(seed: 0)
        switch c.kind {
        case "lstm":
            return LSTM(inputSize: c.input_size, hiddenSize: c.hidden_size, layerCount: c.layers, bias: c.bias,
                        batchFirst: c.batch_first, bidirectional: c.bidirectional, projectionSize: c.proj_size, generator: g)
        case "gru":
            return GRU(inputSize: c.input_size, hiddenSize: c.hidden_size, layerCount: c.layers, bias: c.bias,
                       batchFirst: c.batch_first, bidirectional: c.bidirectional, generator: g)
        default:
            return RNN(inputSize: c.input_size, hiddenSize: c.hidden_size, layerCount: c.layers,
                       nonlinearity: c.kind == "rnn_relu" ? .relu : .tanh, bias: c.bias, batchFirst: c.batch_first,
                       bidirectional: c.bidirectional, generator: g)
        }
    }

    /// Checks the module's names against torch's state-dict keys and copies torch's parameter values into it.
    private func loadTorchParameters(_ parameters: [String: FixtureTensor], keys: [String], into module: Module, _ name: String) throws {
        XCTAssertEqual(module.stateDictKeys(), keys, name)
        for (key, p) in module.namedParameters() {
            let ref = try XCTUnwrap(parameters[key], "\(name): torch has no \(key)")
            XCTAssertEqual(p.shape, ref.shape, "\(name): \(key)")
            let ptr = p.pointer(Float.self)
            for (i, v) in ref.values.enumerated() { ptr[i] = v }
        }
    }

    /// Outputs, final states and all gradients equal torch's within float32 tolerance, for every fixture case.
    func testMatchesTorch() throws {
        let fixture = try loadFixture("nn/recurrent.json", as: RecurrentFixture.self)
        XCTAssertEqual(fixture.magic, "lmkit-recurrent-fixture")
        XCTAssertEqual(fixture.cases.count, 14)
        for c in fixture.cases {
            let net = makeNetwork(c)
            try loadTorchParameters(c.parameters, keys: c.state_dict_keys, into: net, c.name)
            let x = c.x.tensor.requiringGrad()
            let h0 = c.h0?.tensor.requiringGrad(), c0 = c.c0?.tensor.requiringGrad()
            let state = h0.map { RecurrentState(h: $0, c: c0) }
            let (out, final) = net(x, state: state, lengths: c.lengths)
            var loss = (out * c.r_out.tensor).sum() + (final.h * c.r_h.tensor).sum()
            if let cn = final.c, let rc = c.r_c { loss = loss + (cn * rc.tensor).sum() }
            loss.backward()
            let tol = (rtol: 1e-4, atol: 1e-5)
            XCTAssertEqual(out.shape, c.output.shape, c.name)
            assertClose(out, c.output.values.map(Double.init), rtol: tol.rtol, atol: tol.atol, "\(c.name): output")
            assertClose(final.h, c.h_n.values.map(Double.init), rtol: tol.rtol, atol: tol.atol, "\(c.name): h_n")
            if let cn = c.c_n { assertClose(try XCTUnwrap(final.c), cn.values.map(Double.init), rtol: tol.rtol, atol: tol.atol, "\(c.name): c_n") }
            for (name, p) in net.namedParameters() {
                let ref = try XCTUnwrap(c.grads[name])
                assertClose(try XCTUnwrap(p.grad, "\(c.name): no grad for \(name)"), ref.values.map(Double.init),
                            rtol: tol.rtol, atol: tol.atol, "\(c.name): d\(name)")
            }
            assertClose(try XCTUnwrap(x.grad), c.x_grad.values.map(Double.init), rtol: tol.rtol, atol: tol.atol, "\(c.name): dx")
            if let h0, let ref = c.h0_grad { assertClose(try XCTUnwrap(h0.grad), ref.values.map(Double.init), rtol: tol.rtol, atol: tol.atol, "\(c.name): dh0") }
            if let c0, let ref = c.c0_grad { assertClose(try XCTUnwrap(c0.grad), ref.values.map(Double.init), rtol: tol.rtol, atol: tol.atol, "\(c.name): dc0") }
        }
    }

    /// RNNCell / LSTMCell / GRUCell: names, one step and every gradient equal torch's, batched from a given state and
    /// unbatched from zeros.
    func testCellsMatchTorch() throws {
        let fixture = try loadFixture("nn/recurrent_cells.json", as: RecurrentCellFixture.self)
        XCTAssertEqual(fixture.magic, "lmkit-recurrent-cell-fixture")
        XCTAssertEqual(fixture.cases.count, 6)
        let tol = (rtol: 1e-4, atol: 1e-5)
        for c in fixture.cases {
            let g = Generator(seed: 0)
            let module: RecurrentCellModule
            switch c.kind {
            case "lstm": module = LSTMCell(inputSize: c.input_size, hiddenSize: c.hidden_size, bias: c.bias, generator: g)
            case "gru": module = GRUCell(inputSize: c.input_size, hiddenSize: c.hidden_size, bias: c.bias, generator: g)
            default:
                module = RNNCell(inputSize: c.input_size, hiddenSize: c.hidden_size, bias: c.bias,
                                 nonlinearity: c.kind == "rnn_relu" ? .relu : .tanh, generator: g)
            }
            try loadTorchParameters(c.parameters, keys: c.state_dict_keys, into: module, c.name)
            let x = c.x.tensor.requiringGrad(), h0 = c.h0?.tensor.requiringGrad(), c0 = c.c0?.tensor.requiringGrad()
            var h: Tensor, cNew: Tensor? = nil
            switch module {
            case let lstm as LSTMCell:
                let r = lstm(x, h0.map { ($0, c0!) })
                h = r.h; cNew = r.c
            case let gru as GRUCell: h = gru(x, h0)
            case let rnn as RNNCell: h = rnn(x, h0)
            default: return XCTFail("unexpected module")
            }
            XCTAssertEqual(h.shape, c.h.shape, c.name)
            assertClose(h, c.h.values.map(Double.init), rtol: tol.rtol, atol: tol.atol, "\(c.name): h")
            var loss = (h * c.r_h.tensor).sum()
            if let ref = c.c, let rc = c.r_c {
                let cn = try XCTUnwrap(cNew)
                assertClose(cn, ref.values.map(Double.init), rtol: tol.rtol, atol: tol.atol, "\(c.name): c")
                loss = loss + (cn * rc.tensor).sum()
            }
            loss.backward()
            for (name, p) in module.namedParameters() {
                assertClose(try XCTUnwrap(p.grad, "\(c.name): no grad for \(name)"), try XCTUnwrap(c.grads[name]).values.map(Double.init),
                            rtol: tol.rtol, atol: tol.atol, "\(c.name): d\(name)")
            }
            assertClose(try XCTUnwrap(x.grad), c.x_grad.values.map(Double.init), rtol: tol.rtol, atol: tol.atol, "\(c.name): dx")
            if let h0, let ref = c.h0_grad { assertClose(try XCTUnwrap(h0.grad), ref.values.map(Double.init), rtol: tol.rtol, atol: tol.atol, "\(c.name): dh0") }
            if let c0, let ref = c.c0_grad { assertClose(try XCTUnwrap(c0.grad), ref.values.map(Double.init), rtol: tol.rtol, atol: tol.atol, "\(c.name): dc0") }
        }
    }

    /// An unbatched [T, I] input with a [L·D, P] state gives what the same sequence gives as a batch of one.
    func testUnbatchedInputEqualsBatchOfOne() {
        for batchFirst in [false, true] {
            let lstm = LSTM(inputSize: 3, hiddenSize: 4, layerCount: 2, batchFirst: batchFirst, bidirectional: true,
                            generator: Generator(seed: 8))
            let x = Tensor.randn([5, 3], generator: Generator(seed: 9))
            let h0 = Tensor.randn([4, 4], generator: Generator(seed: 10)), c0 = Tensor.randn([4, 4], generator: Generator(seed: 11))
            let (out, state) = lstm(x, state: RecurrentState(h: h0, c: c0))
            XCTAssertEqual(out.shape, [5, 8])
            XCTAssertEqual(state.h.shape, [4, 4])
            let one = lstm(x.reshape(batchFirst ? [1, 5, 3] : [5, 1, 3]),
                           state: RecurrentState(h: h0.reshape([4, 1, 4]), c: c0.reshape([4, 1, 4])))
            XCTAssertEqual(out.toArray(), one.output.reshape([5, 8]).toArray())
            XCTAssertEqual(state.h.toArray(), one.state.h.reshape([4, 4]).toArray())
            XCTAssertEqual(state.c?.toArray(), one.state.c?.reshape([4, 4]).toArray())
        }
    }

    /// The fused kernel (gates written in place, hidden product accumulated into them, gemv at batch one, W_hhᵀ for
    /// larger batches) against the recurrence written step by step with ordinary differentiable ops: outputs, final
    /// states and every gradient, for each cell, both directions, with lengths, and batch one.
    func testFusedKernelEqualsComposedOps() {
        let T = 4, I = 3, H = 5
        for cell in [RecurrentCell.rnnTanh, .rnnReLU, .lstm, .gru] {
            for (B, lengths) in [(3, nil), (3, [4, 1, 3]), (1, nil)] as [(Int, [Int]?)] {
                for reverse in [false, true] {
                    let g = Generator(seed: 12)
                    let G = cell.gateCount * H
                    func r(_ shape: [Int]) -> Tensor { Tensor.randn(shape, std: 0.6, generator: g, dtype: .float64).requiringGrad() }
                    let x = r([T, B, I]), wih = r([G, I]), whh = r([G, H]), bih = r([G]), bhh = r([G]), h0 = r([B, H])
                    let c0 = cell == .lstm ? r([B, H]) : nil
                    let inputs = [x, wih, whh, bih, bhh, h0] + (c0.map { [$0] } ?? [])
                    let rOut = Tensor.randn([T, B, H], generator: g, dtype: .float64), rH = Tensor.randn([B, H], generator: g, dtype: .float64)
                    func loss(_ out: Tensor, _ h: Tensor, _ c: Tensor?) -> Tensor {
                        var l = (out * rOut).sum() + (h * rH).sum()
                        if let c { l = l + (c * rH).sum() }
                        return l
                    }
                    let fused = Tensor.recurrentLayer(x, cell: cell, weightIH: wih, weightHH: whh, biasIH: bih, biasHH: bhh,
                                                      h0: h0, c0: c0, lengths: lengths, reverse: reverse)
                    loss(fused.output, fused.h, fused.c).backward()
                    let fusedGrads = inputs.map { $0.grad!.toDoubles() }
                    for t in inputs { t.zeroGrad() }
                    let composed = composedLayer(cell, x, wih, whh, bih, bhh, h0, c0, lengths: lengths, reverse: reverse)
                    loss(composed.output, composed.h, composed.c).backward()
                    let name = "\(cell) B \(B) lengths \(lengths ?? []) reverse \(reverse)"
                    assertClose(fused.output, composed.output.toDoubles(), rtol: 1e-10, atol: 1e-12, "\(name): output")
                    assertClose(fused.h, composed.h.toDoubles(), rtol: 1e-10, atol: 1e-12, "\(name): h_n")
                    if let c = fused.c { assertClose(c, composed.c!.toDoubles(), rtol: 1e-10, atol: 1e-12, "\(name): c_n") }
                    for (i, t) in inputs.enumerated() {
                        assertClose(t.grad!, fusedGrads[i], rtol: 1e-10, atol: 1e-12, "\(name): gradient of input \(i)")
                    }
                }
            }
        }
    }

    /// torch's equations one step at a time with matmul, sigmoid, tanh, relu, masks for lengths: the oracle for the kernel.
    private func composedLayer(_ cell: RecurrentCell, _ x: Tensor, _ wih: Tensor, _ whh: Tensor, _ bih: Tensor, _ bhh: Tensor,
                               _ h0: Tensor, _ c0: Tensor?, lengths: [Int]?, reverse: Bool) -> (output: Tensor, h: Tensor, c: Tensor?) {
        let T = x.shape[0], B = x.shape[1], H = h0.shape[1]
        var h = h0, c = c0
        var outputs = [Tensor?](repeating: nil, count: T)
        for step in 0..<T {
            let t = reverse ? T - 1 - step : step
            let xi = x.slice(0, t, t + 1).reshape([B, -1]).matmul(wih.transpose(0, 1)) + bih  // [B, G]
            let hh = h.matmul(whh.transpose(0, 1)) + bhh                                          // [B, G]
            func block(_ m: Tensor, _ k: Int) -> Tensor { m.slice(1, k * H, (k + 1) * H) }
            var hNew: Tensor, cNew: Tensor? = nil
            switch cell {
            case .rnnTanh: hNew = (xi + hh).tanh()
            case .rnnReLU: hNew = (xi + hh).relu()
            case .lstm:
                let z = xi + hh
                let i = block(z, 0).sigmoid(), f = block(z, 1).sigmoid(), gg = block(z, 2).tanh(), o = block(z, 3).sigmoid()
                cNew = f * c! + i * gg
                hNew = o * cNew!.tanh()
            case .gru:
                let r = (block(xi, 0) + block(hh, 0)).sigmoid(), zz = (block(xi, 1) + block(hh, 1)).sigmoid()
                let n = (block(xi, 2) + r * block(hh, 2)).tanh()
                hNew = (1 - zz) * n + zz * h
            }
            // Rows past their length keep their state and output zero (pack_padded_sequence).
            let mask = Tensor(doubles: (0..<B).map { b in (lengths.map { t < $0[b] } ?? true) ? 1.0 : 0.0 }, shape: [B, 1])
            h = mask * hNew + (1 - mask) * h
            if let cn = cNew { c = mask * cn + (1 - mask) * c! }
            outputs[t] = (mask * hNew).reshape([1, B, H])
        }
        return (Tensor.concat(outputs.map { $0! }, axis: 0), h, c)
    }

    /// torch's init: every parameter U(−1/√H, 1/√H); names and counts as torch lists them.
    func testInitialisationAndNames() {
        let lstm = LSTM(inputSize: 3, hiddenSize: 16, layerCount: 2, bidirectional: true, projectionSize: 4, generator: Generator(seed: 1))
        XCTAssertEqual(lstm.stateDictKeys().prefix(5), ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"])
        XCTAssertEqual(lstm.stateDictKeys().count, 20)
        XCTAssertTrue(lstm.unreachableTensors().isEmpty)
        let bound = 1 / 4.0
        for (name, p) in lstm.namedParameters() {
            let v = p.toDoubles()
            XCTAssertTrue(v.allSatisfy { abs($0) <= bound }, name)
            XCTAssertGreaterThan(v.map(abs).max()!, bound * 0.5, name)
        }
        XCTAssertEqual(lstm.namedParameters().first { $0.name == "weight_ih_l1_reverse" }?.tensor.shape, [64, 8])
        XCTAssertEqual(lstm.namedParameters().first { $0.name == "weight_hh_l1" }?.tensor.shape, [64, 4])
    }

    /// Finite differences in float64 on tiny shapes: outputs, h_n and c_n against every input of the op.
    func testGradcheckEveryCell() {
        let cells: [(RecurrentCell, Int)] = [(.rnnTanh, 0), (.rnnReLU, 0), (.lstm, 0), (.lstm, 2), (.gru, 0)]
        let g = Generator(seed: 7)
        let T = 4, B = 3, I = 2, H = 3
        for (cell, proj) in cells {
            for reverse in [false, true] {
                for lengths in [nil, [4, 2, 3]] as [[Int]?] {
                    let G = cell.gateCount * H, P = proj > 0 ? proj : H
                    func r(_ shape: [Int]) -> Tensor { Tensor.randn(shape, std: 0.7, generator: g, dtype: .float64).requiringGrad() }
                    var inputs = [r([T, B, I]), r([G, I]), r([G, P]), r([G]), r([G]), r([B, P])]
                    if proj > 0 { inputs.append(r([P, H])) }
                    if cell == .lstm { inputs.append(r([B, H])) }
                    gradcheck("\(cell) proj \(proj) reverse \(reverse) lengths \(lengths ?? [])", inputs, rtol: 1e-5, atol: 1e-7) { t in
                        let res = Tensor.recurrentLayer(t[0], cell: cell, weightIH: t[1], weightHH: t[2], biasIH: t[3], biasHH: t[4],
                                                        weightHR: proj > 0 ? t[6] : nil, h0: t[5], c0: cell == .lstm ? t.last! : nil,
                                                        lengths: lengths, reverse: reverse)
                        var parts = [res.output.reshape([-1]), res.h.reshape([-1])]
                        if let c = res.c { parts.append(c.reshape([-1])) }
                        return Tensor.concat(parts, axis: 0)
                    }
                }
            }
        }
    }

    /// Padding positions are zero and the final state of a short sequence equals running it alone.
    func testLengthsEqualRunningEachSequenceAlone() {
        let lstm = LSTM(inputSize: 2, hiddenSize: 3, bidirectional: true, generator: Generator(seed: 3))
        let x = Tensor.randn([5, 2, 2], generator: Generator(seed: 4))
        let (out, state) = lstm(x, lengths: [5, 2])
        let alone = lstm(x.slice(0, 0, 2).slice(1, 1, 2).contiguous())
        assertClose(out.slice(0, 0, 2).slice(1, 1, 2).contiguous(), alone.output.toDoubles(), rtol: 1e-6, atol: 1e-6, "outputs")
        assertClose(state.h.slice(1, 1, 2).contiguous(), alone.state.h.toDoubles(), rtol: 1e-6, atol: 1e-6, "h_n")
        XCTAssertTrue(out.slice(0, 2, 5).slice(1, 1, 2).contiguous().toDoubles().allSatisfy { $0 == 0 })
    }

    /// Dropout acts between layers in training mode only: in eval mode the output equals a dropout-free copy's, and in
    /// training mode the last layer's own computation is not masked (a 1-layer network ignores dropout).
    func testDropoutBetweenLayers() {
        let x = Tensor.randn([4, 2, 3], generator: Generator(seed: 5))
        let withDropout = GRU(inputSize: 3, hiddenSize: 5, layerCount: 2, dropout: 0.5, generator: Generator(seed: 6))
        let plain = GRU(inputSize: 3, hiddenSize: 5, layerCount: 2, generator: Generator(seed: 6))
        XCTAssertEqual(withDropout.stateDict().mapValues { $0.toArray() }, plain.stateDict().mapValues { $0.toArray() })
        let reference = plain(x).output.toArray()
        XCTAssertNotEqual(withDropout(x).output.toArray(), reference)
        withDropout.eval()
        XCTAssertEqual(withDropout(x).output.toArray(), reference)
        let single = GRU(inputSize: 3, hiddenSize: 5, dropout: 0.5, generator: Generator(seed: 6))
        let singlePlain = GRU(inputSize: 3, hiddenSize: 5, generator: Generator(seed: 6))
        XCTAssertEqual(single(x).output.toArray(), singlePlain(x).output.toArray())
    }
}
