// Evaluation: non-overlapping windows (full ones batched, the tail alone) equal the per-window losses summed by hand.
import Foundation
import LMTensor
import XCTest
@testable import LMTrain

final class EvaluationTests: XCTestCase {
    func testWindowsMatchHandSummedLosses() throws {
        var config = GPTConfig()
        config.vocabSize = 11; config.blockSize = 4; config.nLayer = 1; config.nHead = 1; config.nEmbd = 8
        let model = GPT(config, generator: Generator(seed: 3))
        let tokens = Generator(seed: 4).integers(14, low: 0, high: 11)   // 13 predictions: windows 4, 4, 4 and a tail of 1
        let result = try Evaluation.evaluate(model: model, tokens: tokens, blockSize: 4, batchSize: 2)
        var expected = 0.0
        noGrad {
            for start in stride(from: 0, to: 13, by: 4) {
                let n = min(4, 13 - start)
                let loss = model.loss(Array(tokens[start..<start + n]), targets: Array(tokens[start + 1...start + n]), batch: 1, length: n)
                expected += Double(loss.item()) * Double(n)
            }
        }
        XCTAssertEqual(result.predictedTokens, 13)
        XCTAssertEqual(result.totalNats, expected, accuracy: 1e-4)
        XCTAssertEqual(result.perplexity, exp(expected / 13), accuracy: 1e-3)
        XCTAssertNil(result.bitsPerCharacter)
        XCTAssertThrowsError(try Evaluation.evaluate(model: model, tokens: [1, 20], blockSize: 4)) { XCTAssertTrue("\($0)".contains("token 1 is 20")) }
        XCTAssertThrowsError(try Evaluation.evaluate(model: model, tokens: tokens, blockSize: 5)) { XCTAssertTrue("\($0)".contains("block size 5")) }
    }

    /// Masked diffusion: the bound is the sum of the windows' Monte-Carlo bounds drawn from one seeded stream, every
    /// token counts, and it is marked as an upper bound with the windows' standard errors added in quadrature.
    func testDiffusionBoundSumsWindowBounds() throws {
        var config = MaskedDiffusionConfig()
        config.vocabSize = 12; config.blockSize = 4; config.nLayer = 1; config.nHead = 1; config.nEmbd = 8
        let model = MaskedDiffusion(config, initializer: Generator(seed: 3))
        let tokens = Generator(seed: 4).integers(10, low: 0, high: 11)   // windows 4, 4 and 2
        let result = try Evaluation.evaluateBound(model: model, tokens: tokens, blockSize: 4, samples: 8, batchSize: 4, seed: 5)
        let generator = Generator(seed: 5)
        var nats = 0.0, variance = 0.0
        for start in stride(from: 0, to: 10, by: 4) {
            let bound = model.likelihoodBound(prompt: [], answer: Array(tokens[start..<min(start + 4, 10)]), samples: 8, batchSize: 4,
                                              generator: generator)
            nats += bound.nats; variance += bound.standardError * bound.standardError
        }
        XCTAssertEqual(result.predictedTokens, 10)
        XCTAssertEqual(result.totalNats, nats, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(result.boundStandardError), variance.squareRoot(), accuracy: 1e-9)
        XCTAssertTrue(result.isUpperBound)
        XCTAssertFalse(try Evaluation.evaluate(model: model, tokens: tokens, blockSize: 4).isUpperBound)
        XCTAssertThrowsError(try Evaluation.evaluateBound(model: model, tokens: [1, 11], blockSize: 4)) { XCTAssertTrue("\($0)".contains("mask token")) }
    }

    func testChartTicksAndRows() {
        XCTAssertEqual(LossChart.ticks(0, 2000), [0, 500, 1000, 1500, 2000])
        XCTAssertEqual(LossChart.ticks(1.4, 4.3), [1.5, 2, 2.5, 3, 3.5, 4])
        let row = LossRow(step: 3, trainLoss: 2.5, valLoss: nil, learningRate: 1e-3, tokensPerSecond: 100)
        XCTAssertEqual(LossRow(csvLine: row.csvLine), row)
        let svg = LossChart.svg(rows: [row, LossRow(step: 4, trainLoss: nil, valLoss: 2.4, learningRate: 1e-3, tokensPerSecond: nil)], title: "a<b")
        XCTAssertTrue(svg.contains("a&lt;b") && svg.contains("<circle"))
    }
}
