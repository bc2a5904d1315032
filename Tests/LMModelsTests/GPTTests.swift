import Foundation
import LMNN
import LMOptim
import LMTensor
import XCTest
import _TestSupport
@testable import LMModels

func tinyConfig(_ edit: (inout GPTConfig) -> Void = { _ in }) -> GPTConfig {
    var c = GPTConfig()
    c.vocabSize = 23; c.blockSize = 16; c.nLayer = 2; c.nHead = 4; c.nEmbd = 16
    edit(&c)
    return c
}

let llamaShaped = tinyConfig {
    $0.position = .rope; $0.norm = .rmsNorm; $0.mlp = .swiglu; $0.nKVHead = 2; $0.bias = false; $0.tieEmbeddings = false
    $0.intermediateSize = 24
}

final class GPTTests: XCTestCase {
    func testParameterNamesAreNanoGPTs() {
        let model = GPT(tinyConfig(), generator: Generator(seed: 1))
        let names = model.namedParameters().map(\.name)
        XCTAssertEqual(Array(names.prefix(8)), ["transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight",
                                               "transformer.h.0.ln_1.bias", "transformer.h.0.attn.c_attn.weight",
                                               "transformer.h.0.attn.c_attn.bias", "transformer.h.0.attn.c_proj.weight",
                                               "transformer.h.0.attn.c_proj.bias"])
        XCTAssertFalse(names.contains("lm_head.weight"), "tied head is listed once, under wte")
        XCTAssertTrue(model.stateDict()["lm_head.weight"] === model.stateDict()["transformer.wte.weight"])
        // nanoGPT's count: 12·L·C² + biases/norms + V·C + block·C.
        let c = 16, l = 2
        XCTAssertEqual(model.parameterCount, l * (12 * c * c + 13 * c) + 2 * c + 23 * c + 16 * c)

        let llama = GPT(llamaShaped, generator: Generator(seed: 1))
        let shapes = Dictionary(uniqueKeysWithValues: llama.namedParameters().map { ($0.name, $0.tensor.shape) })
        XCTAssertEqual(shapes["transformer.h.0.attn.c_attn.weight"], [(4 + 2 * 2) * 4, 16])
        XCTAssertEqual(shapes["transformer.h.0.mlp.c_fc.weight"], [48, 16])
        XCTAssertEqual(shapes["transformer.h.0.mlp.c_proj.weight"], [16, 24])
        XCTAssertEqual(shapes["lm_head.weight"], [23, 16])
        XCTAssertNil(shapes["transformer.wpe.weight"]); XCTAssertNil(shapes["transformer.h.0.ln_1.bias"])
    }

    func testGPT2InitScalesResidualProjections() {
        var config = tinyConfig(); config.nLayer = 8; config.nEmbd = 64; config.nHead = 4
        let model = GPT(config, generator: Generator(seed: 3))
        func std(_ t: Tensor) -> Double { let v = t.toArray().map(Double.init); let m = v.reduce(0, +) / Double(v.count)
            return (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot() }
        let p = model.stateDict()
        XCTAssertEqual(std(p["transformer.h.0.attn.c_attn.weight"]!), 0.02, accuracy: 0.001)
        XCTAssertEqual(std(p["transformer.h.3.mlp.c_proj.weight"]!), 0.02 / 4, accuracy: 0.0003)
        XCTAssertEqual(p["transformer.h.0.attn.c_attn.bias"]!.toArray().map(\.magnitude).max(), 0)
    }

    /// Decoding token by token through the cache gives the logits of the full forward at every position.
    func testKVCacheMatchesFullForward() {
        for config in [tinyConfig(), llamaShaped, tinyConfig { $0.position = .rope; $0.ropeLayout = .interleaved; $0.nKVHead = 1 }] {
            let model = GPT(config, generator: Generator(seed: 7)).eval()
            let tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4].map { $0 % 23 }
            let (B, T) = (2, 10)
            let full = noGrad { model(tokens, batch: B, length: T) }.toArray()
            let cache = model.makeDecodingState(batch: B)
            // A 3-token prefill, then one token at a time.
            var pieces: [(Int, Int)] = [(0, 3)] + (3..<T).map { ($0, $0 + 1) }
            var incremental = [Float](repeating: 0, count: B * T * 23)
            for (s, e) in pieces {
                let chunk = (0..<B).flatMap { b in tokens[(b * T + s)..<(b * T + e)] }
                let logits = noGrad { model(chunk, batch: B, length: e - s, cache: cache) }.toArray()
                for b in 0..<B { for t in s..<e { for v in 0..<23 {
                    incremental[(b * T + t) * 23 + v] = logits[(b * (e - s) + t - s) * 23 + v] } } }
            }
            pieces.removeAll()
            XCTAssertEqual(cache.length, T)
            let worst = zip(full, incremental).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-5, "\(config.position) \(config.ropeLayout)")
        }
    }

    /// Permuting q/k rows into the other RoPE layout and switching the config's layout computes the same function.
    func testRoPELayoutConversionPreservesLogits() throws {
        // Weights 15× GPT-2's init scale so attention is far from uniform and a wrong rotation shows in the logits.
        let initial = GPT(llamaShaped, generator: Generator(seed: 11)).stateDict().mapValues { t in noGrad { t * 15 } }
        let model = try GPT(llamaShaped, stateDict: initial).eval()
        let tokens = Array(0..<12).map { ($0 * 7) % 23 }
        let expected = noGrad { model(tokens, batch: 1, length: 12) }.toArray()
        var interleaved = llamaShaped; interleaved.ropeLayout = .interleaved
        let converted = GPT.convertRoPELayout(model.stateDict(), config: llamaShaped, from: .halfSplit, to: .interleaved)
        let other = try GPT(interleaved, stateDict: converted).eval()
        assertClose(noGrad { other(tokens, batch: 1, length: 12) }, expected.map(Double.init), rtol: 1e-5, atol: 1e-5)
        // And back again is the identity on the weights.
        let back = GPT.convertRoPELayout(converted, config: llamaShaped, from: .interleaved, to: .halfSplit)
        XCTAssertEqual(back["transformer.h.1.attn.c_attn.weight"]!.toArray(), model.stateDict()["transformer.h.1.attn.c_attn.weight"]!.toArray())
        // Without the conversion the logits differ, so the test can fail.
        let wrong = try GPT(interleaved, stateDict: model.stateDict()).eval()
        let diff = zip(noGrad { wrong(tokens, batch: 1, length: 12) }.toArray(), expected).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(diff, 1e-2)
    }

    func testStrictLoadNamesTensors() {
        let model = GPT(tinyConfig(), generator: Generator(seed: 1))
        var dict = model.stateDict()
        dict["transformer.h.1.mlp.c_fc.weight"] = nil
        dict["transformer.h.9.attn.bias"] = Tensor.zeros([1])
        dict["transformer.wpe.weight"] = Tensor.zeros([8, 16])
        XCTAssertThrowsError(try GPT(tinyConfig(), stateDict: dict)) { error in
            let text = "\(error)"
            for part in ["transformer.h.1.mlp.c_fc.weight", "transformer.h.9.attn.bias", "\"transformer.wpe.weight\" expected [16, 16], file has [8, 16]"] {
                XCTAssertTrue(text.contains(part), text)
            }
        }
    }

    /// A few hundred AdamW steps memorize a short repeating sequence (both architectures, with dropout on one).
    func testTrainingLowersTheLoss() {
        for config in [tinyConfig { $0.dropout = 0.1 }, llamaShaped] {
            let model = GPT(config, generator: Generator(seed: 5))
            let (first, last) = memorizationLosses(model.namedParameters()) {
                model.loss($0.inputs, targets: $0.targets, batch: $0.batch, length: $0.length)
            }
            XCTAssertGreaterThan(first, 2.5)
            XCTAssertLessThan(last, 0.5, "\(config.mlp): loss \(first) -> \(last)")
        }
    }
}
