// The model seam's proof: a family defined entirely in this file — a bigram language model, registered with one line —
// trains with the real Trainer, checkpoints, resumes bit-identically, evaluates through LoadedModel and samples through
// `generate`, with no line changed outside this file. If this needs an edit elsewhere, the seam is broken.
import Foundation
import LMNN
import LMTensor
import LMTokenizers
import XCTest
@testable import LMTrain

/// A bigram model's config: only the vocabulary.
struct BigramConfig: ModelConfiguration {
    static let modelType = "test-bigram"
    static var jsonKeys: [String] { ["vocab_size"] }
    var vocabSize = 1
    var vocabularySize: Int { vocabSize }
    var contextLength: Int? { nil }
    enum CodingKeys: String, CodingKey { case vocabSize = "vocab_size" }
    func validate() throws {
        guard vocabSize > 0 else { throw ConfigError.invalidValue(field: "vocab_size", "must be positive, got \(vocabSize)") }
    }
}

/// logits(next | current) = table[current]: one [V, V] parameter.
final class Bigram: Module, IncrementalDecoding {
    let config: BigramConfig
    let table: Embedding

    init(_ config: BigramConfig, initializer generator: Generator?) {
        self.config = config
        table = Embedding(weight: Init.normal([config.vocabSize, config.vocabSize], std: 0.02, generator))
    }

    func logits(_ tokens: [Int], batch: Int, length: Int) -> Tensor { table(tokens, shape: [batch, length]) }
    func loss(_ batch: TokenBatch, generator: Generator) -> Tensor { nextTokenLoss(batch) }

    /// A bigram needs no memory of the past; the state only counts positions.
    final class State: DecodingState { var length = 0 }
    func makeDecodingState(batch: Int) -> State { State() }
    func decode(_ tokens: [Int], batch: Int, length: Int, state: State) -> Tensor {
        state.length += length
        return logits(tokens, batch: batch, length: length)
    }
}

final class ToyFamilyTests: XCTestCase {
    override func setUp() { ModelRegistry.register(Bigram.self) }

    func config(dataDir: String, outDir: String, maxIters: Int) -> TrainConfig {
        var c = tinyConfig(dataDir: dataDir, outDir: outDir)
        c.model = ModelSection(modelType: BigramConfig.modelType)
        c.maxIters = maxIters
        c.evalInterval = 10
        c.lrDecayIters = 40
        c.learningRate = 0.1
        return c
    }

    func testTrainsResumesEvaluatesAndSamplesThroughTheSeam() throws {
        let dir = try makeScratchDirectory("toy-family")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try prepareTinyData(in: dir)

        // Train 40 steps straight; the loss falls well below uniform (ln 15 ≈ 2.7).
        let straight = try Trainer(config: config(dataDir: data, outDir: dir + "/straight", maxIters: 40))
        XCTAssertTrue(straight.model is Bigram)
        let full = try losses(straight)
        XCTAssertEqual(full.count, 40)
        XCTAssertLessThan(full.last!, 2.0)

        // Stop at 20, resume to 40: the same losses, bit for bit.
        _ = try Trainer(config: config(dataDir: data, outDir: dir + "/split", maxIters: 20)).run()
        var resume = config(dataDir: data, outDir: dir + "/split", maxIters: 40)
        resume.initFrom = "resume"
        XCTAssertEqual(try losses(try Trainer(config: resume)), Array(full[20...]))

        // The out_dir's config.json names the family; LoadedModel builds it through the registry.
        let configJSON = try String(contentsOfFile: dir + "/split/config.json", encoding: .utf8)
        XCTAssertTrue(configJSON.contains("\"model_type\" : \"test-bigram\""), configJSON)
        let loaded = try LoadedModel.load(dir + "/split")
        let model = try XCTUnwrap(loaded.model as? Bigram)
        let ids = try loadTokenizer(try XCTUnwrap(loaded.tokenizerPath)).encode(tinyCorpus)
        let eval = try Evaluation.evaluate(model: model, tokens: Array(ids.prefix(200)), blockSize: 16)
        XCTAssertLessThan(eval.meanLoss, 2.0)

        // Generation works through IncrementalDecoding, deterministically.
        var options = GenerationOptions()
        options.maxNewTokens = 12
        let sample = model.generate(prompt: [ids[0]], options: options)
        XCTAssertEqual(sample.count, 12)
        XCTAssertEqual(sample, model.generate(prompt: [ids[0]], options: options))
    }

    func testUnknownModelTypeAndKeysAreNamed() throws {
        XCTAssertThrowsError(try TrainConfig.decode(Data(#"{"model": {"model_type": "nope"}}"#.utf8), source: "c.json")) {
            XCTAssertTrue("\($0)".contains("\"nope\"") && "\($0)".contains("test-bigram"), "\($0)")
        }
        XCTAssertThrowsError(try TrainConfig.decode(Data(#"{"model": {"model_type": "test-bigram", "n_layer": 2}}"#.utf8), source: "c.json")) {
            XCTAssertTrue("\($0)".contains("c.json") && "\($0)".contains("'n_layer'"), "\($0)")
        }
        // nanoGPT's flat keys are the gpt family's.
        XCTAssertThrowsError(try TrainConfig.decode(Data(#"{"model": {"model_type": "test-bigram"}, "n_layer": 2}"#.utf8), source: "c.json")) {
            XCTAssertTrue("\($0)".contains("n_layer") && "\($0)".contains("\"model\" section"), "\($0)")
        }
    }
}
