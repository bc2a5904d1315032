// BERT: the four transformers-written tiny directories (BertModel, BertForMaskedLM, BertForSequenceClassification,
// BertForTokenClassification; Scripts/fixtures/bert_fixture.py) give transformers' hidden states, pooler output and
// head logits on a padded batch; padding through key lengths equals running each sequence alone; save -> reload is
// exact and writes the head's class; config.json keys that change the model are refused by name, harmless ones listed;
// the masked-LM objective's draws follow DataCollatorForLanguageModeling (15 %, 80/10/10, specials never chosen).
import Foundation
import LMCheckpoint
import LMTensor
import XCTest
import _TestSupport
import LMOptim
import LMTokenizers
@testable import LMModels

private struct BERTFixture: Decodable {
    let inputs: [[Int]]
    let lengths: [Int]
    let token_types: [[Int]]
}

private let bertDirectories = ["hf_bert_base_tiny", "hf_bert_mlm_tiny", "hf_bert_seqcls_tiny", "hf_bert_tokcls_tiny"]

private func expected(_ name: String) throws -> [Double] {
    try SafetensorsFile(path: fixtureURL("models/bert_models_outputs.safetensors").path).tensor(name).toArray().map(Double.init)
}

private func loadBERT(_ directory: String) throws -> (BERT, HuggingFaceConfig) {
    let loaded = try HuggingFaceModelDirectory.load(directory, loadTokenizer: false)
    return (try XCTUnwrap(loaded.model as? BERT), loaded.config)
}

final class BERTTests: XCTestCase {
    private func fixture() throws -> BERTFixture { try loadFixture("models/bert_models.json") }

    func testOutputsMatchTransformersOnAPaddedBatch() throws {
        let f = try fixture()
        let (B, T) = (f.inputs.count, f.inputs[0].count)
        for name in bertDirectories {
            let (model, config) = try loadBERT(fixtureURL("models/" + name).path)
            let out = noGrad { model(f.inputs.flatMap { $0 }, batch: B, length: T, tokenTypes: f.token_types.flatMap { $0 }, lengths: f.lengths) }
            assertClose(out.hidden, try expected(name + "/hidden"), rtol: 0, atol: 1e-4)
            switch model.config.head {
            case .none:
                assertClose(try XCTUnwrap(out.pooled), try expected(name + "/pooled"), rtol: 0, atol: 1e-4)
                XCTAssertNil(out.logits)
            case .maskedLM, .sequenceClassification, .tokenClassification:
                assertClose(try XCTUnwrap(out.logits), try expected(name + "/logits"), rtol: 0, atol: 1e-4)
            }
            XCTAssertEqual(config.ignoredKeys.sorted(), config.ignoredKeys)
            XCTAssertTrue(config.ignoredKeys.contains("initializer_range") && config.ignoredKeys.contains("transformers_version"), "\(config.ignoredKeys)")
        }
    }

    func testArchitecturesPickTheHead() throws {
        let heads = try bertDirectories.map { try loadBERT(fixtureURL("models/" + $0).path).0.config.head }
        XCTAssertEqual(heads, [.none, .maskedLM, .sequenceClassification, .tokenClassification])
        let seqcls = try loadBERT(fixtureURL("models/hf_bert_seqcls_tiny").path).0.config
        XCTAssertEqual(seqcls.numLabels, 3)
        XCTAssertTrue(seqcls.hasPooler)
        let tokcls = try loadBERT(fixtureURL("models/hf_bert_tokcls_tiny").path).0.config
        XCTAssertEqual(tokcls.numLabels, 5)
        XCTAssertFalse(tokcls.hasPooler)
    }

    func testPaddingEqualsEachSequenceAlone() throws {
        let f = try fixture()
        let (B, T) = (f.inputs.count, f.inputs[0].count)
        let (model, _) = try loadBERT(fixtureURL("models/hf_bert_mlm_tiny").path)
        let batched = noGrad { model(f.inputs.flatMap { $0 }, batch: B, length: T, tokenTypes: f.token_types.flatMap { $0 }, lengths: f.lengths) }
        let logits = batched.logits!.toArray().map(Double.init)
        let V = model.config.vocabSize
        for b in 0..<B {
            let n = f.lengths[b]
            let alone = noGrad { model(Array(f.inputs[b][..<n]), batch: 1, length: n, tokenTypes: Array(f.token_types[b][..<n])) }
            let rows = Array(logits[(b * T * V)..<((b * T + n) * V)])
            assertClose(alone.logits!, rows, rtol: 0, atol: 1e-5)
        }
    }

    func testSaveReloadRoundTripIsExactAndKeepsTheClass() throws {
        let f = try fixture()
        for name in bertDirectories {
            let source = fixtureURL("models/" + name).path
            let (model, config) = try loadBERT(source)
            let dir = NSTemporaryDirectory() + "lmkit-bert-\(UUID().uuidString)"
            addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
            try HuggingFaceModelDirectory.save(model, to: dir)
            let written = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
            let original = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as! [String: Any]
            XCTAssertEqual(written["architectures"] as? [String], original["architectures"] as? [String], name)
            XCTAssertEqual(Set(try SafetensorsFile(path: dir + "/model.safetensors").names),
                           Set(try SafetensorsFile(path: source + "/model.safetensors").names), name)
            let (again, _) = try loadBERT(dir)
            XCTAssertTrue(ModelRegistry.same(again.config, config.model), name)
            XCTAssertTrue(HuggingFaceModelDirectory.isHuggingFaceDirectory(dir))
            let tokens = f.inputs[0]
            XCTAssertEqual(noGrad { again(tokens, batch: 1, length: tokens.count).hidden }.toArray(),
                           noGrad { model(tokens, batch: 1, length: tokens.count).hidden }.toArray(), name)
        }
    }

    /// A BERT directory's tokenizer is its WordPiece (tokenizer.json, else vocab.txt), and saving writes both files.
    func testDirectoryTokenizerIsWordPiece() throws {
        let source = fixtureURL("models/hf_bert_mlm_tiny").path
        let loaded = try HuggingFaceModelDirectory.load(source)
        let tokenizer = try XCTUnwrap(loaded.tokenizer as? WordPiece)
        let reference = try WordPiece.load(tokenizerJSON: source + "/tokenizer.json")
        XCTAssertEqual(tokenizer.vocabulary, reference.vocabulary)
        let dir = NSTemporaryDirectory() + "lmkit-bert-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try HuggingFaceModelDirectory.save(loaded.model, to: dir, tokenizer: tokenizer)
        XCTAssertEqual(try WordPiece.load(vocabTXT: dir + "/vocab.txt").vocabulary, reference.vocabulary)
        try FileManager.default.removeItem(atPath: dir + "/tokenizer.json")
        let fromVocab = try XCTUnwrap(try HuggingFaceModelDirectory.load(dir).tokenizer as? WordPiece)
        XCTAssertEqual(try fromVocab.encode("the capital is [MASK].").ids, try reference.encode("the capital is [MASK].").ids)
        XCTAssertNil(try HuggingFaceModelDirectory.load(fixtureURL("models/hf_bert_base_tiny").path).tokenizer)
        XCTAssertThrowsError(try HuggingFaceModelDirectory.wordPiece(fixtureURL("models/hf_bert_base_tiny").path)) {
            XCTAssertTrue("\($0)".contains("vocab.txt"), "\($0)")
        }
    }

    func testLMKitBERTDirectoryIsNotTakenForHuggingFace() throws {
        let (model, _) = try loadBERT(fixtureURL("models/hf_bert_mlm_tiny").path)
        let dir = NSTemporaryDirectory() + "lmkit-bert-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let source = try ModelDirectoryConversion.load(fixtureURL("models/hf_bert_mlm_tiny").path)
        XCTAssertEqual(source.layout, .huggingFace)
        try ModelDirectoryConversion.save(source, to: dir, layout: .nanoGPT)
        XCTAssertFalse(HuggingFaceModelDirectory.isHuggingFaceDirectory(dir))
        let back = try ModelDirectoryConversion.load(dir)
        XCTAssertEqual(back.layout, .nanoGPT)
        back.model.eval()
        let tokens = [2, 17, 33, 8, 3]
        XCTAssertEqual(noGrad { back.model.logits(tokens, batch: 1, length: 5) }.toArray(),
                       noGrad { model.logits(tokens, batch: 1, length: 5) }.toArray())
    }

    func testModelChangingKeysAreRefusedByNameAndHarmlessOnesListed() throws {
        let base = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("models/hf_bert_mlm_tiny/config.json"))) as! [String: Any]
        func parse(_ edit: (inout [String: Any]) -> Void) throws -> HuggingFaceConfig {
            var object = base
            edit(&object)
            return try HuggingFaceConfig(data: JSONSerialization.data(withJSONObject: object), source: "config.json")
        }
        let refused: [(String, Any)] = [("position_embedding_type", "relative_key"), ("is_decoder", true), ("hidden_act", "relu"),
                                        ("add_cross_attention", true), ("tie_word_embeddings", false), ("classifier_dropout", 0.3),
                                        ("attention_probs_dropout_prob", 0.2), ("architectures", ["BertForPreTraining"])]
        for (key, value) in refused {
            XCTAssertThrowsError(try parse { $0[key] = value }, key) { XCTAssertTrue("\($0)".contains("'\(key)'"), "\(key): \($0)") }
        }
        let harmless = try parse {
            $0["gradient_checkpointing"] = false; $0["_name_or_path"] = "x"; $0["chunk_size_feed_forward"] = 0
            $0["position_embedding_type"] = "absolute"
        }
        for key in ["gradient_checkpointing", "_name_or_path", "chunk_size_feed_forward", "use_cache", "dtype"] {
            XCTAssertTrue(harmless.ignoredKeys.contains(key), "\(key) in \(harmless.ignoredKeys)")
        }
        let gelu = try parse { $0["hidden_act"] = "gelu_new" }.model as! BERTConfig
        XCTAssertEqual(gelu.gelu, .tanh)
    }

    func testMaskedLMDrawsFollowTheCollator() throws {
        var config = BERTConfig()
        (config.vocabSize, config.hiddenSize, config.numHiddenLayers, config.numAttentionHeads, config.intermediateSize) = (100, 8, 1, 2, 8)
        config.maxPositionEmbeddings = 64
        config.maskTokenId = 4
        config.specialTokenIds = [1, 2]
        let model = BERT(config, initializer: Generator(seed: 1))
        // 20 000 tokens: every fifth is special (1, 2) or padding (0).
        let specials: [Int] = [0, 1, 2]
        let tokens: [Int] = (0..<20_000).map { (i: Int) -> Int in i % 5 == 0 ? specials[(i / 5) % 3] : 10 + i % 90 }
        let (inputs, labels) = model.maskedLMInputs(tokens, generator: Generator(seed: 7))
        let chosen = labels.indices.filter { labels[$0] != -100 }
        let eligible = tokens.filter { ![0, 1, 2].contains($0) }.count
        XCTAssertTrue(chosen.allSatisfy { ![0, 1, 2].contains(tokens[$0]) && labels[$0] == tokens[$0] })
        XCTAssertEqual(Double(chosen.count) / Double(eligible), 0.15, accuracy: 0.01)
        let masked = chosen.filter { inputs[$0] == 4 }.count, kept = chosen.filter { inputs[$0] == tokens[$0] }.count
        XCTAssertEqual(Double(masked) / Double(chosen.count), 0.8, accuracy: 0.03)
        // Kept: 10 % plus the random draws that hit the original id (1 %).
        XCTAssertEqual(Double(kept) / Double(chosen.count), 0.1, accuracy: 0.03)
        let changedUnchosen: [Int] = labels.indices.filter { labels[$0] == -100 && inputs[$0] != tokens[$0] }
        XCTAssertEqual(changedUnchosen, [Int](), "unchosen tokens stay")
        // The same generator state draws the same masks; the next batch draws new ones (dynamic masking).
        let generator = Generator(seed: 7)
        XCTAssertEqual(model.maskedLMInputs(tokens, generator: generator).labels, labels)
        XCTAssertNotEqual(model.maskedLMInputs(tokens, generator: generator).labels, labels)
        // A batch where nothing would be chosen still has one label.
        let one = model.maskedLMInputs([1, 20, 2], generator: Generator(seed: 3)).labels
        XCTAssertEqual(one, [-100, 20, -100])
    }

    /// Whole-word masking: a `##` piece follows the draw of the token before it (within a row, after no special
    /// token); without it the draws are the token-level ones. Sentence pairs: `[CLS] A [SEP] B [SEP]` with types 0/1.
    func testWholeWordMaskingAndSentencePairs() {
        var config = BERTConfig()
        (config.hiddenSize, config.numHiddenLayers, config.numAttentionHeads, config.intermediateSize) = (8, 1, 2, 16)
        (config.vocabSize, config.maskTokenId, config.maxPositionEmbeddings, config.mlmProbability) = (40, 4, 64, 0.4)
        (config.clsTokenId, config.sepTokenId) = (2, 3)
        let continuations: Set<Int> = [30, 31, 32]
        // Row length 8: words 10 30 31 | 11 | 12 32 | 13 ; then a row starting with a continuation, and one after [SEP].
        let tokens = [10, 30, 31, 11, 12, 32, 13, 14, 30, 15, 3, 31, 16, 30, 30, 17]
        let plain = BERT(config, initializer: Generator(seed: 1))
        config.wholeWordMasking = true
        let whole = BERT(config, initializer: Generator(seed: 1))
        whole.wordContinuationIds = continuations
        var sawSplitWordInPlain = false
        for seed in 0..<40 {
            let labels = whole.maskedLMInputs(tokens, length: 8, generator: Generator(seed: UInt64(seed))).labels
            for (i, t) in tokens.enumerated() where continuations.contains(t) && i % 8 != 0 && tokens[i - 1] != 3 {
                XCTAssertEqual(labels[i] == -100, labels[i - 1] == -100, "seed \(seed), position \(i)")
            }
            XCTAssertEqual(labels[10], -100)  // [SEP] is never chosen
            let plainLabels = plain.maskedLMInputs(tokens, length: 8, generator: Generator(seed: UInt64(seed))).labels
            if zip(1..<3, 0..<2).contains(where: { (plainLabels[$0] == -100) != (plainLabels[$1] == -100) }) { sawSplitWordInPlain = true }
            // A word's first token decides the same way in both modes (same draws).
            for i in [0, 3, 4, 6, 7, 9, 12, 15] { XCTAssertEqual(labels[i] == -100, plainLabels[i] == -100, "seed \(seed), \(i)") }
        }
        XCTAssertTrue(sawSplitWordInPlain, "token-level masking should split a word sometimes")

        config.wholeWordMasking = false
        config.sentencePairs = true
        let pairs = BERT(config, initializer: Generator(seed: 1))
        let batch = TokenBatch(inputs: tokens, targets: tokens, batch: 2, length: 8)
        let (inputs, types, labels) = pairs.maskedLMBatch(batch, generator: Generator(seed: 5))
        let typeIds = try! XCTUnwrap(types)
        for b in 0..<2 {
            let row = Array(inputs[(b * 8)..<(b * 8 + 8)]), rowTypes = Array(typeIds[(b * 8)..<(b * 8 + 8)])
            XCTAssertEqual(row.first, 2); XCTAssertEqual(row.last, 3)
            let firstSep = row.firstIndex(of: 3)!
            XCTAssertTrue((2...6).contains(firstSep), "\(row)")
            XCTAssertEqual(rowTypes, [Int](repeating: 0, count: firstSep + 1) + [Int](repeating: 1, count: 7 - firstSep))
            for t in [0, firstSep, 7] { XCTAssertEqual(labels[b * 8 + t], -100) }
        }
        XCTAssertTrue(pairs.loss(batch, generator: Generator(seed: 5)).item().isFinite)
        config.clsTokenId = nil
        XCTAssertThrowsError(try config.validate()) { XCTAssertTrue("\($0)".contains("sentence_pairs"), "\($0)") }
    }

    func testRankOrdersByCosineSimilarity() {
        let ranking = SentenceEncoder.rank(query: [1, 0], [[0, 1], [2, 0.1], [-1, 0], [1, 1], [3, 0.3]])
        XCTAssertEqual(ranking.map(\.index), [1, 4, 3, 0, 2], "ties keep input order")
        XCTAssertEqual(ranking[2].score, 1 / 2.0.squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(ranking.last!.score, -1, accuracy: 1e-9)
    }

    /// google-research/bert's sanity check: a small BERT on a small sample text overfits to masked-LM accuracy ≥ 0.95
    /// (dynamic masking, fresh masks for the evaluation).
    func testOverfitsSampleTextToMaskedLMAccuracy() {
        let text = Array("First Citizen: Before we proceed any further, hear me speak. All: Speak, speak. First Citizen: You are all resolved rather to die?")
        let alphabet = Array(Set(text)).sorted()
        let ids = text.map { alphabet.firstIndex(of: $0)! }
        let (B, T) = (4, 16)
        let tokens = (0..<B).flatMap { b in ids[(b * T)..<((b + 1) * T)] }
        var config = BERTConfig()
        (config.hiddenSize, config.numHiddenLayers, config.numAttentionHeads, config.intermediateSize) = (32, 2, 2, 64)
        (config.vocabSize, config.maskTokenId, config.maxPositionEmbeddings, config.dropout) = (alphabet.count + 1, alphabet.count, T, 0)
        let model = BERT(config, initializer: Generator(seed: 3))
        let optimizer = AdamW(groups: ParameterGroup.decayAndNoDecay(model.namedParameters(), learningRate: 1e-2, weightDecay: 0.01))
        // The four rows 4 times over: each copy draws its own masks, so a step sees ~35 masked tokens.
        let batch = TokenBatch(inputs: Array([[Int]](repeating: tokens, count: 4).joined()), targets: Array([[Int]](repeating: tokens, count: 4).joined()),
                               batch: 4 * B, length: T)
        let masks = Generator(seed: 11)
        for _ in 0..<100 {
            optimizer.zeroGrad()
            model.loss(batch, generator: masks).backward()
            optimizer.step()
        }
        model.eval()
        let evalMasks = Generator(seed: 99)
        var correct = 0.0, count = 0
        for _ in 0..<10 {
            let m = model.maskedLMMetrics(batch, generator: evalMasks)
            correct += m.accuracy * Double(m.count); count += m.count
        }
        XCTAssertGreaterThanOrEqual(correct / Double(count), 0.95, "masked-LM accuracy over \(count) masked tokens")
    }

    /// transformers' fill-mask pipeline (top 5 per mask) on the fixture MLM with its WordPiece tokenizer.json.
    func testFillMaskEqualsTheTransformersPipeline() throws {
        struct Candidate: Decodable { let token: Int; let token_str: String; let score: Double }
        struct Case: Decodable { let text: String; let ids: [Int]; let masks: [[Candidate]] }
        let cases: [Case] = try loadFixture("models/fill_mask.json")
        let directory = fixtureURL("models/hf_bert_mlm_tiny").path
        let (model, _) = try loadBERT(directory)
        let tokenizer = try WordPiece.load(tokenizerJSON: directory + "/tokenizer.json")
        for c in cases {
            XCTAssertEqual(try tokenizer.encode(c.text).ids, c.ids, c.text)
            let predicted = try model.fillMask(c.text, tokenizer: tokenizer, topK: 5)
            XCTAssertEqual(predicted.count, c.masks.count, c.text)
            for (mine, theirs) in zip(predicted, c.masks) {
                XCTAssertEqual(mine.map(\.id), theirs.map(\.token), c.text)
                XCTAssertEqual(mine.map(\.token), theirs.map(\.token_str), c.text)
                assertClose(mine.map(\.probability), theirs.map(\.score), rtol: 0, atol: 1e-5)
            }
        }
        XCTAssertThrowsError(try model.fillMask("no mask here", tokenizer: tokenizer)) { XCTAssertTrue("\($0)".contains("[MASK]"), "\($0)") }
    }
}
