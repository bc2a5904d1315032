// GPT with a sliding window (Mistral's `sliding_window`), Longformer-style global tokens and ALiBi positions: the
// config keys and their validation, window ≥ T equal to full attention bitwise, rolling-cache decoding equal to the
// full forward for sequences longer than the window (RoPE, ALiBi, learned; with and without global tokens) with the
// cache's size bounded, and generation past block_size for relative positions only.
import Foundation
import LMNN
import LMTensor
import XCTest
import _TestSupport
@testable import LMModels

final class SlidingWindowGPTTests: XCTestCase {
    func testConfigKeysParseAndValidate() throws {
        let c = try GPTConfig.decode(#"{"sliding_window": 64, "global_tokens": 4, "position": "alibi"}"#.data(using: .utf8)!, source: "c.json")
        XCTAssertEqual(c.slidingWindow, 64); XCTAssertEqual(c.globalTokens, 4); XCTAssertEqual(c.position, .alibi)
        XCTAssertEqual(try GPTConfig.decode(try c.jsonData(), source: "x.json"), c)
        XCTAssertEqual(try GPTConfig.decode(#"{"position": "sinusoidal"}"#.data(using: .utf8)!, source: "c.json").position, .sinusoidal)
        XCTAssertFalse(String(decoding: try GPTConfig().jsonData(), as: UTF8.self).contains("sliding_window"), "absent when not set")
        for (json, field) in [(#"{"sliding_window": 0}"#, "sliding_window"), (#"{"global_tokens": 2}"#, "global_tokens"),
                              (#"{"sliding_window": 8, "global_tokens": -1}"#, "global_tokens"), (#"{"sliding_window": "8"}"#, "sliding_window")] {
            XCTAssertThrowsError(try GPTConfig.decode(json.data(using: .utf8)!, source: "c.json")) { error in
                XCTAssertTrue("\(error)".contains(field), "\(error)")
            }
        }
        // Relative positions with a window have no length limit; absolute tables keep block_size.
        XCTAssertNil(tinyConfig { $0.slidingWindow = 4; $0.position = .rope }.contextLength)
        XCTAssertNil(tinyConfig { $0.slidingWindow = 4; $0.position = .alibi }.contextLength)
        XCTAssertEqual(tinyConfig { $0.slidingWindow = 4; $0.position = .learned }.contextLength, 16)
        XCTAssertEqual(tinyConfig { $0.slidingWindow = 4; $0.position = .sinusoidal }.contextLength, 16)
        XCTAssertEqual(tinyConfig { $0.position = .alibi }.contextLength, 16)
    }

    /// Exporting to a Hugging Face architecture without windows refuses the config instead of dropping the window.
    func testHuggingFaceExportRefusesAWindow() {
        let llama = tinyConfig { $0.position = .rope; $0.norm = .rmsNorm; $0.mlp = .swiglu; $0.slidingWindow = 8 }
        XCTAssertThrowsError(try LlamaAdapter.configJSON(llama)) { XCTAssertTrue("\($0)".contains("sliding_window"), "\($0)") }
        XCTAssertThrowsError(try GPT2Adapter.configJSON(tinyConfig { $0.slidingWindow = 8 })) { XCTAssertTrue("\($0)".contains("sliding_window"), "\($0)") }
        XCTAssertNoThrow(try GPT2Adapter.configJSON(tinyConfig()))
    }

    /// sliding_window ≥ T gives the logits and gradients of full causal attention, bit for bit.
    func testWindowCoveringTheSequenceIsFullAttention() {
        for position in [PositionEncoding.learned, .rope, .alibi] {
            let tokens = (0..<32).map { ($0 * 7 + 3) % 23 }
            var results: [[Float]] = []
            for window in [nil, 16, 100] as [Int?] {
                let model = GPT(tinyConfig { $0.position = position; $0.slidingWindow = window }, generator: Generator(seed: 2))
                let loss = model.loss(tokens, targets: tokens.map { ($0 + 1) % 23 }, batch: 2, length: 16)
                loss.backward()
                results.append(noGrad { model(tokens, batch: 2, length: 16) }.toArray() + model.parameters().flatMap { $0.grad!.toArray() })
            }
            XCTAssertEqual(results[0], results[1], "\(position) window 16")
            XCTAssertEqual(results[0], results[2], "\(position) window 100")
        }
    }

    /// A window changes the model (so the tests above compare something), and ALiBi differs from no positions at all.
    func testWindowAndALiBiChangeTheLogits() {
        let tokens = (0..<16).map { ($0 * 5 + 1) % 23 }
        func logits(_ edit: (inout GPTConfig) -> Void) -> [Float] {
            noGrad { GPT(tinyConfig(edit), generator: Generator(seed: 2))(tokens, batch: 1, length: 16) }.toArray()
        }
        XCTAssertNotEqual(logits { $0.position = .rope }, logits { $0.position = .rope; $0.slidingWindow = 4 })
        XCTAssertNotEqual(logits { $0.position = .rope; $0.slidingWindow = 4 }, logits { $0.position = .rope; $0.slidingWindow = 4; $0.globalTokens = 2 })
        XCTAssertNotEqual(logits { $0.position = .alibi }, logits { $0.position = .rope; $0.ropeTheta = 1e30 })
    }

    /// Decoding through the rolling cache (a prefill, then single tokens and chunks) gives the full forward's logits
    /// at every position of a sequence 6-10× the window, while the cache never holds more than global tokens + 2·window.
    func testRollingCacheDecodingEqualsFullForward() {
        let configs = [tinyConfig { $0.position = .rope; $0.slidingWindow = 4; $0.nKVHead = 2 },
                       tinyConfig { $0.position = .alibi; $0.slidingWindow = 3 },
                       tinyConfig { $0.position = .alibi; $0.slidingWindow = 4; $0.globalTokens = 2 },
                       tinyConfig { $0.position = .rope; $0.slidingWindow = 3; $0.globalTokens = 3 },
                       tinyConfig { $0.position = .learned; $0.slidingWindow = 5; $0.globalTokens = 1; $0.blockSize = 32 }]
        for config in configs {
            let model = GPT(config, generator: Generator(seed: 7)).eval()
            let (B, T) = (2, 30)
            let tokens = (0..<B * T).map { ($0 * 11 + 5) % 23 }
            let full = noGrad { model(tokens, batch: B, length: T) }.toArray()
            let cache = model.makeDecodingState(batch: B)
            let pieces: [(Int, Int)] = [(0, 3)] + (3..<9).map { ($0, $0 + 1) } + [(9, 12), (12, 13), (13, 16)] + (16..<30).map { ($0, $0 + 1) }
            var incremental = [Float](repeating: .nan, count: B * T * 23)
            for (s, e) in pieces {
                let chunk = (0..<B).flatMap { b in tokens[(b * T + s)..<(b * T + e)] }
                let logits = noGrad { model(chunk, batch: B, length: e - s, cache: cache) }.toArray()
                for b in 0..<B { for t in s..<e { for v in 0..<23 { incremental[(b * T + t) * 23 + v] = logits[(b * (e - s) + t - s) * 23 + v] } } }
                let layer = cache.layers[0], w = config.slidingWindow!, g = config.globalTokens ?? 0
                XCTAssertLessThanOrEqual(layer.capacity, g + 2 * w, "cache capacity stays O(window)")
                XCTAssertEqual(layer.length, e)
            }
            XCTAssertGreaterThan(cache.layers[0].droppedPositions, 0, "the cache rolled")
            let worst = zip(full, incremental).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-5, "\(config.position) window \(config.slidingWindow!) globals \(config.globalTokens ?? 0)")
        }
    }

    /// ALiBi without a window: decoding through the (growing) cache uses absolute offsets, so a 4-token prefill and
    /// single tokens give the full forward's logits.
    func testALiBiDecodingEqualsFullForward() {
        let model = GPT(tinyConfig { $0.position = .alibi; $0.nKVHead = 2 }, generator: Generator(seed: 8)).eval()
        let tokens = (0..<16).map { ($0 * 7 + 4) % 23 }
        let full = noGrad { model(tokens, batch: 1, length: 16) }.toArray()
        let cache = model.makeDecodingState(batch: 1)
        var stepped = noGrad { model(Array(tokens[0..<4]), batch: 1, length: 4, cache: cache) }.toArray()
        for t in tokens[4...] { stepped += noGrad { model([t], batch: 1, length: 1, cache: cache) }.toArray() }
        XCTAssertLessThan(zip(full, stepped).map { abs($0 - $1) }.max()!, 1e-5)
    }

    /// With a window and RoPE or ALiBi, a model of block_size 16 runs and decodes 40 positions (the rolling cache keeps
    /// O(window) entries), equal to its full forward; generation passes block_size without restarting. Learned
    /// positions keep the limit (generation restarts from the last block_size/2 tokens, as without a window).
    func testGenerationPastBlockSizeWithRelativePositions() {
        for position in [PositionEncoding.rope, .alibi] {
            let model = GPT(tinyConfig { $0.position = position; $0.slidingWindow = 5; $0.globalTokens = 1 }, generator: Generator(seed: 3)).eval()
            let tokens = (0..<40).map { ($0 * 13 + 2) % 23 }
            let full = noGrad { model(tokens, batch: 1, length: 40) }.toArray()
            let cache = model.makeDecodingState(batch: 1)
            var stepped: [Float] = []
            for t in tokens { stepped += noGrad { model([t], batch: 1, length: 1, cache: cache) }.toArray() }
            XCTAssertLessThan(zip(full, stepped).map { abs($0 - $1) }.max()!, 1e-5, "\(position)")
            XCTAssertLessThanOrEqual(cache.layers[0].capacity, 16)
            var options = GenerationOptions(); options.maxNewTokens = 30; options.temperature = 0
            let generated = model.generate(prompt: [1, 2, 3], options: options)
            XCTAssertEqual(generated.count, 30)
            // Greedy generation equals argmax of the full forward over the whole 33-token sequence (no restart).
            let sequence = [1, 2, 3] + generated
            let logits = noGrad { model(Array(sequence.dropLast()), batch: 1, length: sequence.count - 1) }.toArray()
            for p in 2..<sequence.count - 1 {
                let row = logits[(p * 23)..<((p + 1) * 23)]
                XCTAssertEqual(row.indices.max { row[$0] < row[$1] }! - p * 23, sequence[p + 1], "\(position) position \(p)")
            }
        }
    }
}
