// The recurrent families through the seam, unchanged trainer: an LSTM language model trains with the real Trainer,
// resumes bit-identically, evaluates through LoadedModel and samples through `generate` (recurrent-state decoding).
import Foundation
import LMNN
import LMTensor
import LMTokenizers
import XCTest
@testable import LMTrain

final class RecurrentFamilyTrainTests: XCTestCase {
    func config(dataDir: String, outDir: String, maxIters: Int) -> TrainConfig {
        var c = tinyConfig(dataDir: dataDir, outDir: outDir)
        c.model = ModelSection(modelType: "lstm", keys: ["embedding_size": 16, "hidden_size": 24, "num_layers": 2, "dropout": 0.1])
        c.maxIters = maxIters
        c.evalInterval = 10
        c.lrDecayIters = 40
        c.learningRate = 3e-2
        return c
    }

    func losses(_ trainer: Trainer) throws -> [Double] {
        var losses: [Double] = []
        trainer.onEvent = { if case let .step(_, loss, _, _, _) = $0 { losses.append(loss) } }
        _ = try trainer.run()
        return losses
    }

    func testLSTMTrainsResumesEvaluatesAndSamples() throws {
        let dir = try makeScratchDirectory("recurrent-family")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try prepareTinyData(in: dir)

        let straight = try Trainer(config: config(dataDir: data, outDir: dir + "/straight", maxIters: 40))
        XCTAssertTrue(straight.model is LSTMLanguageModel)
        let full = try losses(straight)
        XCTAssertEqual(full.count, 40)
        XCTAssertLessThan(full.suffix(5).reduce(0, +) / 5, full.prefix(5).reduce(0, +) / 5 - 0.3, "\(full)")

        _ = try Trainer(config: config(dataDir: data, outDir: dir + "/split", maxIters: 20)).run()
        var resume = config(dataDir: data, outDir: dir + "/split", maxIters: 40)
        resume.initFrom = "resume"
        XCTAssertEqual(try losses(try Trainer(config: resume)), Array(full[20...]))

        let loaded = try LoadedModel.load(dir + "/split")
        let model = try XCTUnwrap(loaded.model as? LSTMLanguageModel)
        let ids = try loadTokenizer(try XCTUnwrap(loaded.tokenizerPath)).encode(tinyCorpus)
        let eval = try Evaluation.evaluate(model: model, tokens: Array(ids.prefix(200)), blockSize: 16)
        XCTAssertLessThan(eval.meanLoss, 2.5)

        var options = GenerationOptions()
        options.maxNewTokens = 12
        let sample = model.generate(prompt: [ids[0]], options: options)
        XCTAssertEqual(sample.count, 12)
        XCTAssertEqual(sample, model.generate(prompt: [ids[0]], options: options))
    }
}
