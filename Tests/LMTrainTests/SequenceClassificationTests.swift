// Sequence-classification fine-tuning: JSONL errors name the line and the field; labels, splits and metrics
// (sklearn's macro-F1 worked by hand); a seeded tiny BERT from scratch learns a separable toy task; a pretrained
// directory keeps its encoder and gets a new head; save -> load keeps labels and predictions.
import Foundation
import LMModels
import LMTensor
import LMTokenizers
import XCTest
import _TestSupport
@testable import LMTrain

final class SequenceClassificationTests: XCTestCase {
    private func parse(_ text: String, requireLabels: Bool = true) throws -> [ClassificationExample] {
        try ClassificationData.parse(Data(text.utf8), source: "data.jsonl", requireLabels: requireLabels)
    }

    private func assertError(_ text: String, _ expected: String, requireLabels: Bool = true, line: UInt = #line) {
        XCTAssertThrowsError(try parse(text, requireLabels: requireLabels), line: line) { error in
            XCTAssertTrue("\(error)".contains(expected), "\(error)", line: line)
        }
    }

    func testJSONLParsingAndErrorsNameLineAndField() throws {
        let examples = try parse("{\"text\": \"a\", \"label\": \"x\"}\n\n{\"text\": \"b\", \"text_pair\": \"c\", \"label\": 3}\r\n{\"text\": \"d\", \"text_pair\": null, \"label\": \"y\"}\n")
        XCTAssertEqual(examples, [ClassificationExample(text: "a", label: "x"), ClassificationExample(text: "b", pair: "c", label: "3"),
                                  ClassificationExample(text: "d", label: "y")])
        XCTAssertEqual(try parse("{\"text\": \"a\"}", requireLabels: false), [ClassificationExample(text: "a")])
        assertError("{\"text\": \"a\", \"label\": 1}\n{\"label\": 1}", "data.jsonl:2: field \"text\" is missing")
        assertError("{\"text\": 5, \"label\": 1}", "data.jsonl:1: field \"text\" must be a string")
        assertError("{\"text\": \"a\", \"label\": 1}\n\n{\"text\": \"a\"}", "data.jsonl:3: field \"label\" is missing")
        assertError("{\"text\": \"a\", \"label\": true}", "data.jsonl:1: field \"label\" must be a string or an integer")
        assertError("{\"text\": \"a\", \"label\": 1.5}", "field \"label\" must be a string or an integer")
        assertError("{\"text\": \"a\", \"text_pair\": 2, \"label\": 1}", "data.jsonl:1: field \"text_pair\" must be a string")
        assertError("{\"text\": \"a\", \"label\": 1}\n[1, 2]", "data.jsonl:2: not a JSON object")
        assertError("{\"text\": \"a\", \"label\": 1}\n{\"text\": \"a\"", "data.jsonl:2: not a JSON object")
        assertError("\n\n", "no examples")
    }

    func testLabelsSplitAndMetrics() throws {
        XCTAssertEqual(ClassificationData.labels(of: ["10", "2", "1", "2"].map { ClassificationExample(text: "", label: $0) }), ["1", "2", "10"])
        XCTAssertEqual(ClassificationData.labels(of: ["b", "a", "10"].map { ClassificationExample(text: "", label: $0) }), ["10", "a", "b"])
        let examples = (0..<20).map { ClassificationExample(text: "t\($0)", label: "\($0 % 2)") }
        let (train, eval) = try ClassificationData.split(examples, evalFraction: 0.25, seed: 7)
        XCTAssertEqual(eval.count, 5)
        XCTAssertEqual(Set(train.map(\.text)).union(eval.map(\.text)), Set(examples.map(\.text)))
        XCTAssertTrue(Set(train.map(\.text)).isDisjoint(with: eval.map(\.text)))
        XCTAssertEqual(try ClassificationData.split(examples, evalFraction: 0.25, seed: 7).eval, eval)
        XCTAssertNotEqual(try ClassificationData.split(examples, evalFraction: 0.25, seed: 8).eval, eval)
        XCTAssertThrowsError(try ClassificationData.split(Array(examples.prefix(1)), evalFraction: 0.5, seed: 0))
        // sklearn: f1_score([0,0,1,1,2], [0,1,1,1,0], average="macro") = (0.5 + 0.8 + 0) / 3.
        let m = ClassificationMetrics(predicted: [0, 1, 1, 1, 0], gold: [0, 0, 1, 1, 2])
        XCTAssertEqual(m.accuracy, 0.6, accuracy: 1e-12)
        XCTAssertEqual(m.macroF1, (0.5 + 0.8 + 0) / 3, accuracy: 1e-12)
        // A class only predicted (never gold) counts too, with F1 0.
        XCTAssertEqual(ClassificationMetrics(predicted: [0, 1], gold: [0, 0]).macroF1, (2.0 / 3 + 0) / 2, accuracy: 1e-12)
    }

    /// Two topics of words with shared filler: a tiny BERT from scratch separates them within a few seeded epochs.
    func testSmallSeededRunLearnsASeparableTask() throws {
        let sports = ["goal", "match", "team", "score", "coach", "league"], space = ["orbit", "rocket", "planet", "moon", "launch", "star"]
        let filler = ["the", "a", "was", "of", "and", "in"]
        let tokenizer = try WordPiece(vocabulary: WordPiece.bertSpecialTokens + sports + space + filler)
        let words = Generator(seed: 5)
        func example(_ topic: [String], _ label: String) -> ClassificationExample {
            let picks = words.integers(6, low: 0, high: 6), fill = words.integers(6, low: 0, high: 6)
            return ClassificationExample(text: (0..<6).map { $0 % 2 == 0 ? topic[picks[$0]] : filler[fill[$0]] }.joined(separator: " "), label: label)
        }
        let examples = (0..<80).map { $0 % 2 == 0 ? example(sports, "sports") : example(space, "space") }
        let (train, eval) = try ClassificationData.split(examples, evalFraction: 0.25, seed: 1)
        let config: [String: Any] = ["hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64, "dropout": 0.0]
        let classifier = try SequenceClassifier.scratch(config: config, source: "config", tokenizer: tokenizer, labels: ["space", "sports"],
                                                        maxLength: 16, seed: 3)
        var options = FineTuneOptions()
        (options.epochs, options.batchSize, options.learningRate, options.warmupFraction) = (6, 8, 3e-3, 0.1)
        let tuner = try FineTuner(classifier: classifier, train: train, eval: eval, options: options)
        let before = tuner.evaluate()
        let evals = try tuner.run()
        XCTAssertEqual(evals.count, 6)
        XCTAssertEqual(evals.last!.step, tuner.totalSteps)
        XCTAssertGreaterThanOrEqual(evals.last!.metrics.accuracy, 0.95, "\(evals.map(\.metrics))")
        XCTAssertGreaterThanOrEqual(evals.last!.metrics.macroF1, 0.95)
        XCTAssertLessThan(evals.last!.evalLoss, before.loss / 2)
        // Unknown labels in eval data are refused by name.
        XCTAssertThrowsError(try FineTuner(classifier: classifier, train: train, eval: [ClassificationExample(text: "x", label: "weather")],
                                           options: options, evalSource: "eval.jsonl")) {
            XCTAssertTrue("\($0)".contains("eval.jsonl: example 1 has label \"weather\""), "\($0)")
        }
        XCTAssertThrowsError(try SequenceClassifier.scratch(config: ["num_labels": 3], source: "cfg.json", tokenizer: tokenizer, labels: ["a", "b"],
                                                            maxLength: 16, seed: 0)) { XCTAssertTrue("\($0)".contains("cfg.json: num_labels"), "\($0)") }
        XCTAssertThrowsError(try SequenceClassifier.scratch(config: ["hidden_sise": 8], source: "cfg.json", tokenizer: tokenizer, labels: ["a", "b"],
                                                            maxLength: 16, seed: 0)) { XCTAssertTrue("\($0)".contains("hidden_sise"), "\($0)") }
    }

    /// From a BertModel directory the encoder and pooler are the pretrained ones and only the classifier is new; from a
    /// BertForMaskedLM the pooler is new too. Saved, the directory reloads with its labels and gives the same outputs.
    func testPretrainedStartAndSaveLoadRoundTrip() throws {
        let base = fixtureURL("models/hf_bert_base_tiny").path, mlm = fixtureURL("models/hf_bert_mlm_tiny").path
        // The base fixture has no vocabulary: give it the MLM fixture's (the same vocab_size).
        let dir = NSTemporaryDirectory() + "lmkit-seqcls-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/base", withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors"] { try FileManager.default.copyItem(atPath: base + "/" + file, toPath: dir + "/base/" + file) }
        try FileManager.default.copyItem(atPath: mlm + "/vocab.txt", toPath: dir + "/base/vocab.txt")
        let (classifier, newWeights) = try SequenceClassifier.pretrained(dir + "/base", labels: ["neg", "pos"], maxLength: 12, seed: 0)
        XCTAssertEqual(newWeights, ["classifier.bias", "classifier.weight"])
        let source = try HuggingFaceModelDirectory.load(base).model.stateDict()
        for (name, tensor) in classifier.model.stateDict() where !name.hasPrefix("classifier.") {
            XCTAssertEqual(tensor.toArray(), source[name]?.toArray(), name)
        }
        XCTAssertEqual(try SequenceClassifier.pretrained(mlm, labels: ["a", "b", "c"], maxLength: nil, seed: 0).newWeights,
                       ["classifier.bias", "classifier.weight", "pooler.dense.bias", "pooler.dense.weight"])
        let encoded = try classifier.encode(ClassificationExample(text: "the cat sat on the mat and more words than fit", pair: "a dog"))
        XCTAssertEqual(encoded.ids.count, 12)
        XCTAssertEqual(encoded.types.filter { $0 == 1 }.count, 3)  // "a dog [SEP]"
        try classifier.save(to: dir + "/saved")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/saved/config.json"))) as! [String: Any]
        XCTAssertEqual(config["architectures"] as? [String], ["BertForSequenceClassification"])
        XCTAssertEqual(config["id2label"] as? [String: String], ["0": "neg", "1": "pos"])
        let loaded = try SequenceClassifier.load(dir + "/saved")
        XCTAssertEqual(loaded.labels, ["neg", "pos"])
        XCTAssertEqual(loaded.maxLength, 12)
        let texts = [ClassificationExample(text: "the cat"), ClassificationExample(text: "a much longer text about a dog", pair: "and a pair")]
        let a = try classifier.probabilities(texts), b = try loaded.probabilities(texts)
        for (x, y) in zip(a, b) { assertClose(x, y, rtol: 0, atol: 1e-6) }
        // Batched with padding equals one at a time.
        let single = try texts.map { try classifier.probabilities([$0])[0] }
        for (x, y) in zip(a, single) { assertClose(x, y, rtol: 0, atol: 1e-5) }
        XCTAssertThrowsError(try SequenceClassifier.load(mlm)) { XCTAssertTrue("\($0)".contains("BertForSequenceClassification"), "\($0)") }
    }
}
