// An out_dir written before the model seam (Tests/Fixtures/train/legacy-v1, made by LMKit b66f6e9; see its
// expected.json) still loads, evaluates and samples as it did, and resuming it reproduces the losses the old code
// logged for an uninterrupted run — so the checkpoint format and the training step did not change across the seam.
import Foundation
import XCTest
import _TestSupport
import LMTokenizers
@testable import LMTrain

final class LegacyCheckpointTests: XCTestCase {
    struct Expected: Decodable {
        let uninterrupted_train_loss: [String: Double]
        let uninterrupted_val_loss: [String: Double]
        let eval_val_loss: Double
        let greedy_sample: String
    }

    /// A writable copy of the fixture (resume writes into out/).
    func copyFixture() throws -> (String, Expected) {
        let source = fixtureURL("train/legacy-v1").path
        let dir = try makeScratchDirectory("legacy")
        for item in ["out", "data", "train_config.json"] {
            try FileManager.default.copyItem(atPath: source + "/" + item, toPath: dir + "/" + item)
        }
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: source + "/expected.json")))
        return (dir, expected)
    }

    func testLoadsEvaluatesAndSamplesAsBefore() throws {
        let (dir, expected) = try copyFixture()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let loaded = try LoadedModel.load(dir + "/out")
        XCTAssertEqual(type(of: loaded.model.config).modelType, "gpt")   // configs without model_type are GPT's
        let tokens = try TokenFile(path: dir + "/data/val.bin")
        let result = try Evaluation.evaluate(model: loaded.model, tokens: tokens.tokens(0..<tokens.count), blockSize: 16)
        XCTAssertEqual(result.meanLoss, expected.eval_val_loss, accuracy: 1e-6)

        let tokenizer = try loadTokenizer(try XCTUnwrap(loaded.tokenizerPath))
        let model = try XCTUnwrap(loaded.model as? any IncrementalDecoding)
        var options = GenerationOptions()
        options.temperature = 0
        options.maxNewTokens = 20
        let generated = model.generate(prompt: try tokenizer.encode("A"), options: options)
        XCTAssertEqual("A" + (try tokenizer.decode(generated)), expected.greedy_sample)
    }

    func testResumeReproducesTheUninterruptedRun() throws {
        let (dir, expected) = try copyFixture()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try TrainConfig.load(path: dir + "/train_config.json", overrides: ["--max_iters", "6"])
        config.dataDir = dir + "/data"
        config.outDir = dir + "/out"
        config.initFrom = "resume"
        let trainer = try Trainer(config: config)
        var trainLosses: [Int: Double] = [:], valLosses: [Int: Double] = [:]
        trainer.onEvent = { event in
            switch event {
            case let .step(iteration, loss, _, _, _): trainLosses[iteration - 1] = loss
            case let .eval(iteration, _, val): valLosses[iteration] = val
            default: break
            }
        }
        _ = try trainer.run()
        // expected.json holds the old run's loss.csv values, printed with 6 decimals.
        for (step, loss) in expected.uninterrupted_train_loss { XCTAssertEqual(trainLosses[Int(step)!]!, loss, accuracy: 1e-6, "step \(step)") }
        for (step, loss) in expected.uninterrupted_val_loss { XCTAssertEqual(valLosses[Int(step)!]!, loss, accuracy: 1e-6, "step \(step)") }
    }
}
