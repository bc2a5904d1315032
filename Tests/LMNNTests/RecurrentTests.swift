// RNN/LSTM/GRU against torch.nn (Tests/Fixtures/nn/recurrent.json from Scripts/fixtures/recurrent_fixture.py):
// parameter names and order, outputs, final states and every gradient; plus float64 finite-difference gradchecks of
// the one-op-per-layer-direction `recurrentLayer` on tiny shapes, for every cell, direction, lengths and proj_size.
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

    /// Outputs, final states and all gradients equal torch's within float32 tolerance, for every fixture case.
    func testMatchesTorch() throws {
        let fixture = try loadFixture("nn/recurrent.json", as: RecurrentFixture.self)
        XCTAssertEqual(fixture.magic, "lmkit-recurrent-fixture")
        XCTAssertEqual(fixture.cases.count, 14)
        for c in fixture.cases {
            let net = makeNetwork(c)
            XCTAssertEqual(net.stateDictKeys(), c.state_dict_keys, c.name)
            for (name, p) in net.namedParameters() {
                let ref = try XCTUnwrap(c.parameters[name], "\(c.name): torch has no \(name)")
                XCTAssertEqual(p.shape, ref.shape, "\(c.name): \(name)")
                let ptr = p.pointer(Float.self)
                for (i, v) in ref.values.enumerated() { ptr[i] = v }
            }
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
