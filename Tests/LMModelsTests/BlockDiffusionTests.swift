// Block diffusion (BD3-LM) on the masked-diffusion trunk: block-causal attention through the kernel option, the
// per-block objective, and block-by-block sampling — KV-cached equal to uncached, and block length 1 with one step per
// block equal to greedy autoregressive decoding of the same network.
import Foundation
import LMNN
import LMTensor
import XCTest
import _TestSupport
@testable import LMModels

final class BlockDiffusionTests: XCTestCase {
    func model(blockLength: Int?, seed: UInt64 = 3) -> MaskedDiffusion {
        var config = MaskedDiffusionConfig()
        config.vocabSize = 11; config.blockSize = 24; config.nLayer = 2; config.nHead = 2; config.nEmbd = 16
        config.blockLength = blockLength
        let model = MaskedDiffusion(config, initializer: Generator(seed: seed))
        // Larger weights than the init's, so that logits are decisive and argmax ties are not a concern.
        let scaled = noGrad { model.stateDict().mapValues { $0.rank == 2 ? ($0 * 12).contiguous() : $0 } }
        try! model.load(scaled, source: "scaled")
        return model
    }

    func testCachedLogitsEqualUncachedAndBlocksSeeOnlyTheirPast() {
        let m = model(blockLength: 4)
        let tokens = [1, 4, 2, 9, 0, 3, 10, 5, 6, 2]
        let V = 11
        let full = noGrad { m.logits(tokens, batch: 1, length: 10) }.toArray()
        let cache = KVCache(layerCount: 2, maximumLength: 24)
        _ = noGrad { m(Array(tokens[0..<8]), batch: 1, length: 8, cache: cache) }
        let block = noGrad { m(Array(tokens[8..<10]), batch: 1, length: 2, cache: cache) }.toArray()
        for i in block.indices { XCTAssertEqual(block[i], full[8 * V + i], accuracy: 1e-4) }
        // Changing a later block leaves earlier blocks' logits unchanged; changing a token of the same block does not.
        var later = tokens; later[9] = 7
        let changed = noGrad { m.logits(later, batch: 1, length: 10) }.toArray()
        XCTAssertEqual(Array(changed[0..<(8 * V)]), Array(full[0..<(8 * V)]))
        var same = tokens; same[7] = 8
        let inBlock = noGrad { m.logits(same, batch: 1, length: 10) }.toArray()
        XCTAssertNotEqual(Array(inBlock[(4 * V)..<(5 * V)]), Array(full[(4 * V)..<(5 * V)]))
    }

    func testCachedSamplingEqualsUncached() throws {
        let m = model(blockLength: 4)
        for (prompt, length, steps, temperature, remasking, cfg) in [([1, 2, 3], 9, 12, 0.0, Remasking.lowConfidence, 0.0),
                                                                      ([5, 6, 7, 8], 8, 8, 0.8, .lowConfidence, 0),
                                                                      ([2], 13, 8, 0.0, .random, 0),
                                                                      ([1, 2, 3, 4, 5], 10, 12, 0.0, .lowConfidence, 1.5),
                                                                      ([9, 8], 9, 6, 0.7, .random, 0.5)] {
            var options = DiffusionGenerationOptions()
            options.length = length; options.steps = steps; options.temperature = temperature; options.remasking = remasking
            options.cfgScale = cfg
            var cachedBlocks: [[Int]] = []
            let cached = try m.generateBlockDiffusion(prompt: prompt, options: options, cache: true) { cachedBlocks.append($0) }
            let uncached = try m.generateBlockDiffusion(prompt: prompt, options: options, cache: false)
            XCTAssertEqual(cached, uncached, "prompt \(prompt), length \(length), steps \(steps), \(temperature), \(remasking), cfg \(cfg)")
            XCTAssertEqual(cached.count, length)
            XCTAssertEqual(cachedBlocks.flatMap { $0 }, cached)
            XCTAssertFalse(cached.contains(m.maskToken))
        }
    }

    /// When prompt and generation fit in one block, attention is bidirectional over all of it, so block diffusion's
    /// sampler must be LLaDA's generate() (one block) — draws included, and with classifier-free guidance, whose
    /// LLaDA form the parity fixtures pin.
    func testOneBlockIsLLaDAsGenerateWithGuidance() throws {
        let m = model(blockLength: 12)
        for (steps, temperature, remasking, cfg) in [(8, 0.0, Remasking.lowConfidence, 2.0), (4, 0.9, .lowConfidence, 0.5),
                                                     (8, 0.6, .random, 1.0), (8, 0.0, .lowConfidence, 0)] {
            var options = DiffusionGenerationOptions()
            options.length = 8; options.steps = steps; options.temperature = temperature; options.remasking = remasking
            options.cfgScale = cfg
            let block = try m.generateBlockDiffusion(prompt: [3, 1, 4, 1], options: options, cache: false)
            XCTAssertEqual(block, try m.generateDiffusion(prompt: [3, 1, 4, 1], options: options), "\(steps) \(temperature) \(remasking) cfg \(cfg)")
        }
        // Guidance changes what is sampled (the unconditional row sees the prompt masked).
        var options = DiffusionGenerationOptions()
        options.length = 8; options.steps = 8
        let plain = try m.generateBlockDiffusion(prompt: [3, 1, 4, 1], options: options)
        options.cfgScale = 3
        XCTAssertNotEqual(plain, try m.generateBlockDiffusion(prompt: [3, 1, 4, 1], options: options))
    }

    /// Without `steps`, one token per step: block_length steps per block.
    func testDefaultStepsUnmaskOneTokenPerStep() throws {
        let m = model(blockLength: 4)
        var options = DiffusionGenerationOptions()
        options.length = 9
        let byDefault = try m.generateBlockDiffusion(prompt: [1, 2, 3], options: options)   // positions 0..<12: 3 blocks
        options.steps = 12
        XCTAssertEqual(byDefault, try m.generateBlockDiffusion(prompt: [1, 2, 3], options: options))
        options.steps = 13
        XCTAssertThrowsError(try m.generateBlockDiffusion(prompt: [1, 2, 3], options: options))
        // A block length other than the model's is refused, not ignored.
        options.steps = nil; options.blockLength = 3
        XCTAssertThrowsError(try m.generateBlockDiffusion(prompt: [1, 2, 3], options: options)) { XCTAssertTrue("\($0)".contains("block_length 4"), "\($0)") }
    }

    func testBlockLengthOneIsGreedyAutoregressiveDecoding() throws {
        let m = model(blockLength: 1)
        let prompt = [3, 1, 4]
        var options = DiffusionGenerationOptions()
        options.length = 10; options.steps = 10
        let sampled = try m.generateBlockDiffusion(prompt: prompt, options: options)
        // Greedy AR with the same network: the next position holds the mask token and attends to everything before.
        var x = prompt
        for _ in 0..<10 {
            let input = x + [m.maskToken]
            let logits = noGrad { m.logits(input, batch: 1, length: input.count) }.toArray()
            let row = Array(logits[(x.count * 11)..<((x.count + 1) * 11)])
            x.append(row.indices.filter { $0 != m.maskToken }.max { row[$0] < row[$1] }!)
        }
        XCTAssertEqual(sampled, Array(x[prompt.count...]))
    }

    func testOneBlockSpanningTheSequenceIsLLaDAsObjective() {
        // With block_length ≥ the length the draws (t per sequence, then the mask uniforms) and the attention
        // (bidirectional) are LLaDA's, so the losses are equal.
        let tokens = (0..<16).map { ($0 * 3) % 10 }
        let batch = TokenBatch(inputs: tokens, targets: tokens, batch: 2, length: 8)
        let block = model(blockLength: 8, seed: 4), plain = model(blockLength: nil, seed: 4)
        let a = noGrad { block.loss(batch, generator: Generator(seed: 6)) }.item()
        let b = noGrad { plain.loss(batch, generator: Generator(seed: 6)) }.item()
        XCTAssertEqual(a, b, accuracy: 1e-4 * abs(b))
        // Smaller blocks give a different (per-block) objective that still trains: gradients reach every weight.
        let small = model(blockLength: 2, seed: 4)
        small.loss(batch, generator: Generator(seed: 6)).backward()
        for (name, p) in small.namedParameters() { XCTAssertNotNil(p.grad, name) }
    }

    func testBlockBoundIsExactForOneTokenBlocks() {
        // With one-token blocks every block masks its only token, so the bound is the AR chain rule of the network.
        let m = model(blockLength: 1)
        let answer = [2, 7, 1, 8]
        let bound = m.likelihoodBound(prompt: [], answer: answer, samples: 4, batchSize: 2, generator: Generator(seed: 1))
        var nll = 0.0
        for i in 0..<answer.count {
            let input = Array(answer[0..<i]) + [m.maskToken]
            let logits: [Float] = noGrad { m.logits(input, batch: 1, length: input.count) }.toArray()
            let row: [Double] = logits[(i * 11)..<((i + 1) * 11)].map { Double($0) }
            let top = row.max()!
            let logSum: Double = Foundation.log(row.reduce(0.0) { $0 + Foundation.exp($1 - top) })
            nll += top + logSum - row[answer[i]]
        }
        XCTAssertEqual(bound.nats, nll, accuracy: 1e-3)
        XCTAssertEqual(bound.standardError, 0, accuracy: 1e-4)
    }
}
