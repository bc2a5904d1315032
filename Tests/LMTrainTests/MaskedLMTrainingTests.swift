// BERT pretraining through `lmkit train` on WordPiece data: the vocabulary fills mask/pad/cls/sep ids, whole-word
// masking and sentence pairs run, evals report masked-token accuracy, and `evaluateMaskedLM` is repeatable.
import Foundation
import LMModels
import LMTensor
import LMTokenizers
import XCTest
@testable import LMTrain

final class MaskedLMTrainingTests: XCTestCase {
    func testWordPieceDataFillsIdsAndEvalsReportMaskedAccuracy() throws {
        let dir = try makeScratchDirectory("mlm-wordpiece")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = String(repeating: "the cats sat on the mats. the dogs sat on the logs. unbelievable sitting cats!\n", count: 40)
        try corpus.write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
        let trainer = try WordPieceTrainer(vocabularySize: 60, minFrequency: 2, specialTokens: WordPiece.bertSpecialTokens)
        try trainer.add(file: dir + "/in.txt")
        let wordPiece = try trainer.train()
        try wordPiece.writeTokenizerJSON(to: dir + "/tokenizer.json")
        XCTAssertFalse(wordPiece.continuationIDs.isEmpty)
        XCTAssertTrue(wordPiece.continuationIDs.allSatisfy { wordPiece.vocabulary[$0].hasPrefix("##") })
        _ = try DataPreparation.prepare(tokenizer: dir + "/tokenizer.json", inputPath: dir + "/in.txt", outputDirectory: dir + "/data", valFraction: 0.2)
        var config = tinyConfig(dataDir: dir + "/data", outDir: dir + "/out")
        config.model = ModelSection(modelType: "bert", keys: ["hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                                                             "intermediate_size": 32, "dropout": 0, "whole_word_masking": true, "sentence_pairs": true])
        config.blockSize = 16
        config.maxIters = 20
        config.evalInterval = 10
        let run = try Trainer(config: config)
        let bert = try XCTUnwrap(run.model as? BERT)
        let ids = wordPiece.specialTokenIDs
        XCTAssertEqual(bert.config.vocabSize, wordPiece.vocabularySize)
        XCTAssertEqual(bert.config.maskTokenId, ids["[MASK]"])
        XCTAssertEqual(bert.config.padTokenId, ids["[PAD]"])
        XCTAssertEqual(bert.config.clsTokenId, ids["[CLS]"])
        XCTAssertEqual(bert.config.sepTokenId, ids["[SEP]"])
        XCTAssertEqual(bert.wordContinuationIds, wordPiece.continuationIDs)
        var accuracies: [(Int, Double, Double)] = [], losses: [Double] = []
        run.onEvent = { event in
            if case let .maskedAccuracy(i, t, v) = event { accuracies.append((i, t, v)) }
            if case let .eval(_, _, v) = event { losses.append(v) }
        }
        _ = try run.run()
        XCTAssertEqual(accuracies.map(\.0), [0, 10, 20])
        XCTAssertTrue(accuracies.allSatisfy { (0...1).contains($0.1) && (0...1).contains($0.2) })
        XCTAssertLessThan(losses.last!, losses.first!)
        // The trained model evaluates repeatably (seeded masks) through the saved out_dir.
        let loaded = try LoadedModel.load(config.outDir)
        let model = try XCTUnwrap(loaded.model as? BERT)
        XCTAssertTrue(model.config.wholeWordMasking && model.config.sentencePairs)
        model.wordContinuationIds = wordPiece.continuationIDs
        let tokens = try wordPiece.encode(corpus)
        let a = try Evaluation.evaluateMaskedLM(model: model, tokens: tokens, blockSize: 16, batchSize: 4)
        let b = try Evaluation.evaluateMaskedLM(model: model, tokens: tokens, blockSize: 16, batchSize: 4)
        XCTAssertEqual(a.loss, b.loss)
        XCTAssertEqual(a.accuracy, b.accuracy)
        XCTAssertGreaterThan(a.maskedTokens, tokens.count / 10)
        XCTAssertThrowsError(try Evaluation.evaluateMaskedLM(model: model, tokens: tokens, blockSize: 4)) { XCTAssertTrue("\($0)".contains("5...")) }

        // Whole-word masking on character data has no words to join: refused by name.
        try "abc abd abe\n".write(toFile: dir + "/chars.txt", atomically: true, encoding: .utf8)
        _ = try DataPreparation.prepare(tokenizer: "char", inputPath: dir + "/chars.txt", outputDirectory: dir + "/chardata")
        var charConfig = config
        charConfig.dataDir = dir + "/chardata"
        charConfig.blockSize = 4
        charConfig.model = ModelSection(modelType: "bert", keys: ["hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "whole_word_masking": true])
        XCTAssertThrowsError(try Trainer(config: charConfig)) { XCTAssertTrue("\($0)".contains("needs WordPiece data"), "\($0)") }
    }

    /// The WordPiece pretraining recipe decodes strictly, with its objective options.
    func testPretrainingRecipeDecodes() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../configs/bert_mini_shakespeare_wordpiece.json").standardized
        let c = try TrainConfig.decode(Data(contentsOf: url), source: url.path)
        XCTAssertEqual(c.model.modelType, "bert")
        XCTAssertEqual(c.model["whole_word_masking"], true)
        XCTAssertEqual(c.model["sentence_pairs"], true)
        XCTAssertEqual(c.model["hidden_size"], 256)
    }
}
