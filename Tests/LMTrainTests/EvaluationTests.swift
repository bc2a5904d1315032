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

    func testChartTicksAndRows() {
        XCTAssertEqual(LossChart.ticks(0, 2000), [0, 500, 1000, 1500, 2000])
        XCTAssertEqual(LossChart.ticks(1.4, 4.3), [1.5, 2, 2.5, 3, 3.5, 4])
        let row = LossRow(step: 3, trainLoss: 2.5, valLoss: nil, learningRate: 1e-3, tokensPerSecond: 100)
        XCTAssertEqual(LossRow(csvLine: row.csvLine), row)
        let svg = LossChart.svg(rows: [row, LossRow(step: 4, trainLoss: nil, valLoss: 2.4, learningRate: 1e-3, tokensPerSecond: nil)], title: "a<b")
        XCTAssertTrue(svg.contains("a&lt;b") && svg.contains("<circle"))
    }
}
