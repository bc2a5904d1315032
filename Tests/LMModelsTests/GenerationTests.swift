import LMTensor
import LMTokenizers
import XCTest
@testable import LMModels

final class GenerationTests: XCTestCase {
    func options(_ edit: (inout GenerationOptions) -> Void) -> GenerationOptions { var o = GenerationOptions(); edit(&o); return o }

    /// Greedy decoding with the cache picks the argmax of a fresh full forward at every step, past block_size too.
    func testGreedyEqualsArgmaxOfFullForward() {
        let model = GPT(tinyConfig(), generator: Generator(seed: 2))
        let prompt = [1, 2, 3]
        let generated = model.generate(prompt: prompt, options: options { $0.temperature = 0; $0.maxNewTokens = 10 })
        XCTAssertEqual(generated.count, 10)
        var context = prompt
        for token in generated {
            let logits = noGrad { model(context, batch: 1, length: context.count) }.toArray().suffix(23)
            XCTAssertEqual(token, Array(logits).indices.max { logits[logits.startIndex + $0] < logits[logits.startIndex + $1] })
            context.append(token)
        }
        // Past block_size (16) the cache is rebuilt from the last 8 tokens instead of stopping.
        XCTAssertEqual(model.generate(prompt: prompt, options: options { $0.temperature = 0; $0.maxNewTokens = 40 }).count, 40)
    }

    func testSamplingIsSeededAndTopKOneIsGreedy() {
        let model = GPT(llamaShaped, generator: Generator(seed: 4))
        let a = model.generate(prompt: [5], options: options { $0.maxNewTokens = 12; $0.seed = 9 })
        XCTAssertEqual(a, model.generate(prompt: [5], options: options { $0.maxNewTokens = 12; $0.seed = 9 }))
        XCTAssertNotEqual(a, model.generate(prompt: [5], options: options { $0.maxNewTokens = 12; $0.seed = 10 }))
        let greedy = model.generate(prompt: [5], options: options { $0.maxNewTokens = 12; $0.temperature = 0 })
        XCTAssertEqual(greedy, model.generate(prompt: [5], options: options { $0.maxNewTokens = 12; $0.topK = 1 }))
        XCTAssertEqual(greedy, model.generate(prompt: [5], options: options { $0.maxNewTokens = 12; $0.topP = 1e-6 }))
    }

    func testTopKTopPAndTemperatureRestrictTheDistribution() {
        let logits: [Float] = [2.0, 1.0, 0.5, -1.0, 3.0]  // probabilities ≈ .23 .09 .05 .01 .62
        var counts = [Int](repeating: 0, count: 5)
        let topK = TokenSampler(options { $0.topK = 2; $0.seed = 1 })
        for _ in 0..<2000 { counts[topK.next(logits: logits, history: [])] += 1 }
        XCTAssertEqual(counts[1] + counts[2] + counts[3], 0)
        XCTAssertEqual(Double(counts[4]) / 2000, 0.731, accuracy: 0.03)  // e³ / (e³ + e²)
        counts = [0, 0, 0, 0, 0]
        let topP = TokenSampler(options { $0.topP = 0.8; $0.seed = 1 })  // .62 + .23 ≥ .8: tokens 4 and 0 only
        for _ in 0..<2000 { counts[topP.next(logits: logits, history: [])] += 1 }
        XCTAssertEqual(counts[1] + counts[2] + counts[3], 0)
        counts = [0, 0, 0, 0, 0]
        let hot = TokenSampler(options { $0.temperature = 100; $0.seed = 1 })  // nearly uniform
        for _ in 0..<5000 { counts[hot.next(logits: logits, history: [])] += 1 }
        for c in counts { XCTAssertEqual(Double(c) / 5000, 0.2, accuracy: 0.03) }
    }

    func testRepetitionPenaltyFollowsCTRL() {
        // Token 4 (3.0) penalized by 2 → 1.5 < 2.0; token 3 (-1.0) → -2.0.
        let sampler = TokenSampler(options { $0.temperature = 0; $0.repetitionPenalty = 2 })
        XCTAssertEqual(sampler.next(logits: [2.0, 1.0, 0.5, -1.0, 3.0], history: [4]), 0)
        XCTAssertEqual(sampler.next(logits: [-1.0, -0.6, -5, -5, -5], history: [1]), 0)  // -0.6·2 = -1.2 < -1.0
    }

    func testStopTokensAndCallbackEndGeneration() {
        let model = GPT(tinyConfig(), generator: Generator(seed: 2))
        let greedy = model.generate(prompt: [1], options: options { $0.temperature = 0; $0.maxNewTokens = 8 })
        let stopped = model.generate(prompt: [1], options: options { $0.temperature = 0; $0.maxNewTokens = 8; $0.stopTokens = [greedy[3]] })
        XCTAssertEqual(stopped, Array(greedy.prefix(while: { $0 != greedy[3] })))
        var seen = 0
        XCTAssertEqual(model.generate(prompt: [1], options: options { $0.temperature = 0 }) { _ in seen += 1; return seen < 3 }.count, 3)
    }

    func testStopSequenceFilterHoldsBackPrefixes() {
        var filter = StopSequenceFilter(["\n\n", "THE END"])
        var out = ""
        for piece in ["Hello", " wor", "ld.\n", "Next TH", "E", " END", "more"] { out += filter.push(piece) }
        XCTAssertTrue(filter.stopped)
        XCTAssertEqual(out + filter.finish(), "Hello world.\nNext ")
        var partial = StopSequenceFilter(["STOP"])
        XCTAssertEqual(partial.push("abcST"), "abc")
        XCTAssertEqual(partial.push("x"), "STx")
        XCTAssertEqual(partial.push("ST"), "")
        XCTAssertEqual(partial.finish(), "ST")
    }

    func testInvalidOptionsNameTheOption() {
        XCTAssertThrowsError(try options { $0.topP = 0 }.validate()) { XCTAssertTrue("\($0)".contains("top_p")) }
        XCTAssertThrowsError(try options { $0.temperature = -1 }.validate()) { XCTAssertTrue("\($0)".contains("temperature")) }
    }
}

extension GenerationTests {
    /// The library's text loop equals decoding `generate`'s ids, streams the same text it returns, and cuts at a stop string.
    func testTextGenerationStreamsAndStops() throws {
        let tokenizer = try CharTokenizer(corpus: "abcdefghijklmnopqrstuvw")   // 23 characters = tinyConfig's vocabulary
        let model = GPT(tinyConfig(), generator: Generator(seed: 2))
        let generation = TextGeneration(model: model, tokenizer: tokenizer)
        let greedy = options { $0.temperature = 0; $0.maxNewTokens = 12 }
        var streamed = ""
        let text = try generation.generate(prompt: "abc", options: greedy) { streamed += $0; return true }
        XCTAssertEqual(text, streamed)
        XCTAssertEqual(text, try tokenizer.decode(model.generate(prompt: try tokenizer.encode("abc"), options: greedy)))
        let stop = String(text.dropFirst(4).prefix(2))
        let cut = try generation.generate(prompt: "abc", options: greedy, stop: [stop])
        XCTAssertEqual(cut, String(text[..<text.range(of: stop)!.lowerBound]))
        XCTAssertThrowsError(try generation.generate(prompt: "", options: greedy)) { XCTAssertTrue("\($0)".contains("no tokens"), "\($0)") }
    }
}
