// The masked-diffusion family against a PyTorch mask predictor and a line-for-line port of LLaDA's generate()
// (Scripts/fixtures/diffusion_fixture.py): logits, the 1/p-weighted loss of a fixed noising, and the generated tokens
// for several (steps, length, block length, remasking, cfg, temperature) settings. Plus the forward process's
// statistics, an overfit-one-batch run, and the sampler's invariants.
import Foundation
import LMCheckpoint
import LMOptim
import LMTensor
import XCTest
import _TestSupport
@testable import LMModels

private struct DiffusionFixture: Decodable {
    struct Case: Decodable {
        let steps: Int, length: Int, block_length: Int, remasking: String, temperature: Double, cfg_scale: Double, seed: UInt64
        let tokens: [Int]
    }
    let config: MaskedDiffusionConfig
    let inputs: [Int], clean: [Int], p_mask: [Double]
    let batch: Int, length: Int
    let loss: Double
    let prompt: [Int]
    let cases: [Case]
    let state_dict: [String]
}

final class MaskedDiffusionTests: XCTestCase {
    private func fixture() throws -> (DiffusionFixture, MaskedDiffusion, logits: Tensor) {
        let data = try Data(contentsOf: fixtureURL("models/diffusion_parity.json"))
        let fixture = try JSONDecoder().decode(DiffusionFixture.self, from: data)
        var tensors = try SafetensorsFile(path: fixtureURL("models/diffusion_parity.safetensors").path).tensors()
        let logits = try XCTUnwrap(tensors.removeValue(forKey: "logits"))
        let model = MaskedDiffusion(fixture.config, initializer: nil)
        XCTAssertEqual(Set(model.stateDict().keys), Set(fixture.state_dict))
        try model.load(tensors, source: "diffusion_parity.safetensors")
        return (fixture, model, logits)
    }

    func testLogitsAndWeightedLossMatchPyTorch() throws {
        let (f, model, expected) = try fixture()
        let logits = noGrad { model.logits(f.inputs, batch: f.batch, length: f.length) }
        assertClose(logits, expected.toArray().map(Double.init), rtol: 1e-4, atol: 1e-4)
        // The fixture's noising: masks where inputs hold the mask token, p per position.
        let V = f.config.vocabSize
        let targets = zip(f.inputs, f.clean).map { $0 == f.config.maskToken ? $1 : -1 }
        let weights = zip(targets, f.p_mask).map { $0 >= 0 ? Float(1 / $1) : 0 }
        let loss = (logits.reshape([f.batch * f.length, V]).crossEntropy(targets: targets, ignoreIndex: -1, reduction: .none)
            * Tensor(weights, shape: [weights.count])).sum() / Double(weights.count)
        XCTAssertEqual(Double(loss.item()), f.loss, accuracy: 1e-4)
    }

    func testGenerateMatchesLLaDAPortForEverySetting() throws {
        let (f, model, _) = try fixture()
        XCTAssertGreaterThanOrEqual(f.cases.count, 5)
        for c in f.cases {
            var options = DiffusionGenerationOptions()
            options.steps = c.steps; options.length = c.length; options.blockLength = c.block_length
            options.remasking = try XCTUnwrap(Remasking(rawValue: c.remasking)); options.temperature = c.temperature
            options.cfgScale = c.cfg_scale; options.seed = c.seed
            var blocks: [[Int]] = []
            let tokens = try model.generateDiffusion(prompt: f.prompt, options: options) { blocks.append($0) }
            XCTAssertEqual(tokens, c.tokens, "\(c)")
            XCTAssertEqual(blocks.flatMap { $0 }, tokens)
            XCTAssertEqual(blocks.count, c.length / c.block_length)
        }
    }

    func testForwardProcessMasksWithProbabilityP() {
        let (B, L) = (64, 64)
        let tokens = (0..<(B * L)).map { $0 % 7 }
        let noised = MaskedDiffusion.forwardProcess(tokens, batch: B, length: L, maskToken: 7, epsilon: 1e-3, generator: Generator(seed: 5))
        // Replay the draws: t per sequence, then the uniforms.
        let g = Generator(seed: 5)
        let t = g.uniform(B)
        var maskedFraction = 0.0
        for b in 0..<B {
            let p = (1 - 1e-3) * t[b] + 1e-3
            let row = (b * L)..<((b + 1) * L)
            let masked = row.filter { noised.tokens[$0] == 7 }
            maskedFraction += Double(masked.count) / Double(L) - p
            for i in row {
                if noised.tokens[i] == 7 {
                    XCTAssertEqual(noised.targets[i], tokens[i]); XCTAssertEqual(Double(noised.weights[i]), 1 / p, accuracy: 1e-3 / p)
                } else {
                    XCTAssertEqual(noised.targets[i], -1); XCTAssertEqual(noised.weights[i], 0); XCTAssertEqual(noised.tokens[i], tokens[i])
                }
            }
        }
        // Mean over sequences of (masked fraction − p): each term has sd ≤ 1/(2√L) = 1/16, so the mean's sd ≤ 1/128.
        XCTAssertLessThan(abs(maskedFraction / Double(B)), 0.03)
    }

    /// LLaDA's SFT loss (GUIDELINES.md): the pre-training draws with the prompt left clean, Σ_masked CE / p divided by
    /// each row's answer length (L − prompt, padding included), then by the batch — against a direct computation, and
    /// with empty prompts equal to the pre-training loss (÷ L per row then ÷ B is ÷ B·L), for masked and block diffusion.
    func testSFTLossKeepsThePromptCleanAndDividesByAnswerLength() throws {
        var config = MaskedDiffusionConfig()
        config.vocabSize = 9; config.blockSize = 12; config.nLayer = 1; config.nHead = 2; config.nEmbd = 16
        let model = MaskedDiffusion(config, initializer: Generator(seed: 3))
        let (B, L, V, mask) = (3, 10, 9, 8)
        let tokens = (0..<(B * L)).map { ($0 * 7 + $0 / 5) % 8 }, prompts = [0, 4, 9]
        let sft = TokenBatch(inputs: tokens, targets: tokens, batch: B, length: L, promptLengths: prompts)
        let loss = Double(noGrad { model.loss(sft, generator: Generator(seed: 4)) }.item())
        let g = Generator(seed: 4)
        let t = g.uniform(B), u = g.uniform(B * L)
        var x = tokens, expected = 0.0
        for b in 0..<B { for i in prompts[b]..<L where u[b * L + i] < (1 - 1e-3) * t[b] + 1e-3 { x[b * L + i] = mask } }
        for b in 0..<B { XCTAssertFalse(x[(b * L)..<(b * L + prompts[b])].contains(mask), "row \(b): the prompt is never masked") }
        let logits = noGrad { model.logits(x, batch: B, length: L) }.toArray()
        for b in 0..<B {
            let p = (1 - 1e-3) * t[b] + 1e-3
            for i in 0..<L where x[b * L + i] == mask {
                let row = logits[((b * L + i) * V)..<((b * L + i + 1) * V)].map(Double.init), top = row.max()!
                let nll = top + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - top) }) - row[tokens[b * L + i]]
                expected += nll / p / Double(L - prompts[b])
            }
        }
        expected /= Double(B)
        XCTAssertGreaterThan(expected, 0)
        XCTAssertEqual(loss, expected, accuracy: 1e-5 * expected)

        for blockLength in [nil, 4] {
            var c = config
            c.blockLength = blockLength
            let m = MaskedDiffusion(c, initializer: Generator(seed: 3))
            let pretraining = Double(noGrad { m.loss(TokenBatch(inputs: tokens, targets: tokens, batch: B, length: L), generator: Generator(seed: 6)) }.item())
            let emptyPrompts = TokenBatch(inputs: tokens, targets: tokens, batch: B, length: L, promptLengths: [0, 0, 0])
            let sftLoss = Double(noGrad { m.loss(emptyPrompts, generator: Generator(seed: 6)) }.item())
            XCTAssertEqual(sftLoss, pretraining, accuracy: 1e-5 * sftLoss, "block_length \(String(describing: blockLength))")
        }
        // Block diffusion with prompts of L − 1 tokens: only the last position (in the last block, of 2 tokens) may be
        // masked, with that block's p, and it is predicted from the clean rest.
        var c = config
        c.blockLength = 4
        let m = MaskedDiffusion(c, initializer: Generator(seed: 3))
        let last = TokenBatch(inputs: tokens, targets: tokens, batch: B, length: L, promptLengths: [L - 1, L - 1, L - 1])
        let lastLoss = Double(noGrad { m.loss(last, generator: Generator(seed: 8)) }.item())
        let g8 = Generator(seed: 8)
        let tBlocks = g8.uniform(B * 3), uLast = g8.uniform(B * L)
        var expectedLast = 0.0
        for b in 0..<B {
            let p = (1 - 1e-3) * tBlocks[b * 3 + 2] + 1e-3
            guard uLast[b * L + L - 1] < p else { continue }
            let row = Array(tokens[(b * L)..<(b * L + L - 1)]) + [mask]
            let all: [Float] = noGrad { m.logits(row, batch: 1, length: L) }.toArray()
            let logits: [Double] = all[((L - 1) * V)...].map { Double($0) }
            let top = logits.max()!
            let logSum: Double = Foundation.log(logits.reduce(0.0) { $0 + Foundation.exp($1 - top) })
            expectedLast += (top + logSum - logits[tokens[b * L + L - 1]]) / p
        }
        XCTAssertEqual(lastLoss, expectedLast / Double(B), accuracy: 1e-5 * max(lastLoss, 1))
    }

    func testOverfitsOneBatch() throws {
        var config = MaskedDiffusionConfig()
        config.vocabSize = 9; config.blockSize = 12; config.nLayer = 1; config.nHead = 2; config.nEmbd = 16
        let model = MaskedDiffusion(config, initializer: Generator(seed: 3))
        let tokens = (0..<24).map { ($0 * 5 + $0 / 12) % 8 }
        let batch = TokenBatch(inputs: tokens, targets: tokens, batch: 2, length: 12)
        let optimizer = AdamW(groups: [ParameterGroup(model.namedParameters(), learningRate: 1e-2)])
        let generator = Generator(seed: 9)
        var first = 0.0, lastLosses: [Double] = []
        for step in 0..<200 {
            let loss = model.loss(batch, generator: generator)
            if step == 0 { first = Double(loss.item()) }
            if step >= 180 { lastLosses.append(Double(loss.item())) }
            optimizer.zeroGrad(); loss.backward(); optimizer.step()
        }
        let last = lastLosses.reduce(0, +) / Double(lastLosses.count)
        XCTAssertGreaterThan(first, 1.0)
        XCTAssertLessThan(last, 0.2 * first, "loss \(first) → \(last)")
    }

    func testGenerateValidatesAndBlockLengthOneStepPerTokenUnmasksOneTokenPerStep() throws {
        let (f, model, _) = try fixture()
        var options = DiffusionGenerationOptions()
        options.length = 8; options.blockLength = 3
        XCTAssertThrowsError(try model.generateDiffusion(prompt: f.prompt, options: options))
        options.blockLength = 4; options.steps = 3
        XCTAssertThrowsError(try model.generateDiffusion(prompt: f.prompt, options: options))
        options.length = 40
        XCTAssertThrowsError(try model.generateDiffusion(prompt: f.prompt, options: options))
        // steps == length with block length 1: each step commits the next position's argmax given the prompt so far,
        // i.e. greedy left-to-right decoding with everything after the position still masked.
        options.length = 6; options.blockLength = 1; options.steps = 6
        let tokens = try model.generateDiffusion(prompt: f.prompt, options: options)
        var x = f.prompt
        for i in 0..<6 {
            let sequence = x + [Int](repeating: f.config.maskToken, count: 6 - i)
            let logits = noGrad { model.logits(sequence, batch: 1, length: sequence.count) }.toArray()
            let V = f.config.vocabSize, row = Array(logits[(x.count * V)..<((x.count + 1) * V)])
            x.append(row.indices.max { row[$0] < row[$1] }!)
        }
        XCTAssertEqual(tokens, Array(x[f.prompt.count...]))
    }

    /// Σ over masked positions of −log p(clean | the sequence with `masked` positions replaced by the mask token).
    private func maskedNats(_ model: MaskedDiffusion, _ sequence: [Int], masked: [Int]) -> Double {
        var x = sequence
        for i in masked { x[i] = model.maskToken }
        let V = model.config.vocabSize
        let logits = noGrad { model.logits(x, batch: 1, length: x.count) }.toArray()
        return masked.reduce(0.0) { total, i in
            let row = logits[(i * V)..<((i + 1) * V)].map(Double.init), top = row.max()!
            return total + (top + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - top) })) - row[sequence[i]]
        }
    }

    func testLikelihoodBoundIsExactForOneTokenAndUnbiasedForTheNegativeELBO() throws {
        let (f, model, _) = try fixture()
        // One answer token: every noising masks it, so the estimate is exactly −log p(x | prompt, [mask]).
        let one = model.likelihoodBound(prompt: f.prompt, answer: [8], samples: 8, batchSize: 4, generator: Generator(seed: 1))
        XCTAssertEqual(one.nats, maskedNats(model, f.prompt + [8], masked: [f.prompt.count]), accuracy: 1e-4)
        XCTAssertEqual(one.standardError, 0, accuracy: 1e-5)
        XCTAssertEqual(one.samples, 8)
        // Three answer tokens: the negative ELBO by enumeration, E_m~U{1..n}[(n/m)·E_{|S|=m} Σ_S −log p], and the
        // Monte-Carlo estimate within 4 standard errors of it.
        let answer = [8, 11, 2], n = answer.count, P = f.prompt.count
        var exact = 0.0
        for m in 1...n {
            let subsets = (0..<(1 << n)).filter { $0.nonzeroBitCount == m }
            let mean = subsets.reduce(0.0) { total, bits in
                total + maskedNats(model, f.prompt + answer, masked: (0..<n).filter { bits >> $0 & 1 == 1 }.map { P + $0 })
            } / Double(subsets.count)
            exact += Double(n) / Double(m) * mean / Double(n)
        }
        let estimate = model.likelihoodBound(prompt: f.prompt, answer: answer, samples: 512, batchSize: 16, generator: Generator(seed: 2))
        XCTAssertGreaterThan(estimate.standardError, 0)
        XCTAssertLessThan(abs(estimate.nats - exact), 4 * estimate.standardError, "estimate \(estimate) vs exact \(exact)")
    }
}
