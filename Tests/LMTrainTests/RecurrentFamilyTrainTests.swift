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
        // Stream mode: windows of 16 carrying the state give the loss of one window over all 199 predictions (each
        // token sees its whole history), not the loss of windows restarted from zero.
        let whole = try Evaluation.evaluate(model: model, tokens: Array(ids.prefix(200)), blockSize: 199)
        XCTAssertEqual(eval.predictedTokens, 199)
        XCTAssertEqual(eval.meanLoss, whole.meanLoss, accuracy: 1e-5)
        model.eval()  // the config has dropout; Evaluation switches it off the same way
        defer { model.train() }
        let restarted = noGrad { () -> Double in
            var total = 0.0
            for start in stride(from: 0, to: 199, by: 16) {
                let n = min(16, 199 - start)
                let batch = TokenBatch(inputs: Array(ids[start..<start + n]), targets: Array(ids[start + 1...start + n]), batch: 1, length: n)
                total += Double(model.loss(batch, generator: Generator(seed: 0)).item()) * Double(n)
            }
            return total / 199
        }
        XCTAssertGreaterThan(abs(restarted - eval.meanLoss), 1e-3, "windows from a zero state should differ from the stream")

        var options = GenerationOptions()
        options.maxNewTokens = 12
        let sample = model.generate(prompt: [ids[0]], options: options)
        XCTAssertEqual(sample.count, 12)
        XCTAssertEqual(sample, model.generate(prompt: [ids[0]], options: options))
    }

    /// data_order "streams": truncated BPTT trains, resumes bit-identically (cursor and carried state are in the
    /// checkpoint), and a model without carried state is refused by name.
    func testTruncatedBPTTTrainsAndResumesBitIdentically() throws {
        let dir = try makeScratchDirectory("recurrent-tbptt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try prepareTinyData(in: dir)
        func streams(_ out: String, _ iters: Int) -> TrainConfig {
            var c = config(dataDir: data, outDir: dir + out, maxIters: iters)
            c.dataOrder = "streams"
            c.batchSize = 16
            c.blockSize = 16
            c.evalInterval = 7  // checkpoints fall mid-pass, so the carried state must be restored
            return c
        }
        let straight = try Trainer(config: streams("/straight", 40))
        let windows = try XCTUnwrap(straight.trainStreams).windowCount
        XCTAssertLessThan(windows, 40, "the run should wrap around the streams at least once")
        let full = try losses(straight)
        XCTAssertEqual(full.count, 40)
        XCTAssertLessThan(full.suffix(5).reduce(0, +) / 5, full.prefix(5).reduce(0, +) / 5 - 0.3, "\(full)")

        _ = try Trainer(config: streams("/split", 21)).run()
        var resume = streams("/split", 40)
        resume.initFrom = "resume"
        let resumed = try Trainer(config: resume)
        XCTAssertEqual(resumed.trainStreams?.cursor, 21 % windows == 0 ? windows : 21 % windows)
        XCTAssertEqual(try losses(resumed), Array(full[21...]))

        var gpt = tinyConfig(dataDir: data, outDir: dir + "/gpt")
        gpt.dataOrder = "streams"
        XCTAssertThrowsError(try Trainer(config: gpt)) { XCTAssertTrue("\($0)".contains("data_order"), "\($0)") }
        XCTAssertThrowsError(try TrainConfig.decode(Data(#"{"data_order": "shuffled"}"#.utf8), source: "c.json")) {
            XCTAssertTrue("\($0)".contains("data_order"), "\($0)")
        }
    }

    /// Row b of window i + 1 continues row b of window i in the token file; after the last window the streams restart.
    func testStreamSamplerWindowsAreContiguous() throws {
        let dir = try makeScratchDirectory("stream-sampler")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try prepareTinyData(in: dir)
        let tokens = try TokenFile(path: data + "/train.bin")
        let sampler = try StreamSampler(tokens: tokens, batchSize: 3, blockSize: 10)
        let all = (0..<tokens.count).map { tokens[$0] }
        XCTAssertEqual(sampler.streamLength, tokens.count / 3)
        var previous: [Int]?
        for i in 0..<(sampler.windowCount + 1) {
            let (x, y, restart) = sampler.next()
            XCTAssertEqual(restart, i == 0 || i == sampler.windowCount)
            let w = i % sampler.windowCount
            for b in 0..<3 {
                let start = b * sampler.streamLength + w * 10
                XCTAssertEqual(Array(x[(b * 10)..<(b * 10 + 10)]), Array(all[start..<(start + 10)]))
                XCTAssertEqual(Array(y[(b * 10)..<(b * 10 + 10)]), Array(all[(start + 1)..<(start + 11)]))
                if let previous, !restart { XCTAssertEqual(previous[b * 10 + 9], x[b * 10], "window \(i) row \(b) continues the last") }
            }
            previous = y
        }
    }
}
