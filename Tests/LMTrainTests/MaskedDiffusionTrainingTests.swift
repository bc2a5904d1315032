// The masked-diffusion family through the real trainer: `"model": {"model_type": "masked-diffusion", …}` trains (the
// mask token added to the data's vocabulary), resumes bit-identically — the noise levels and masks come from the run's
// model generator, which the checkpoint saves — and the out_dir loads and samples with LLaDA's sampler.
import Foundation
import LMModels
import LMTensor
import LMTokenizers
import XCTest
@testable import LMTrain

final class MaskedDiffusionTrainingTests: XCTestCase {
    func config(dataDir: String, outDir: String, maxIters: Int, blockLength: Int? = nil) -> TrainConfig {
        var c = tinyConfig(dataDir: dataDir, outDir: outDir)
        c.model = ModelSection(modelType: MaskedDiffusionConfig.modelType, keys: ["n_layer": 1, "n_head": 2, "n_embd": 16])
        if let blockLength { c.model["block_length"] = .int(blockLength) }
        c.maxIters = maxIters
        c.evalInterval = 10
        c.lrDecayIters = 40
        return c
    }

    func run(_ config: TrainConfig) throws -> (trainer: Trainer, losses: [Double], parameters: [String: [UInt32]], validation: [Double]) {
        let trainer = try Trainer(config: config)
        var losses: [Double] = [], validation: [Double] = []
        trainer.onEvent = {
            if case let .step(_, loss, _, _, _) = $0 { losses.append(loss) }
            if case let .eval(_, _, v) = $0 { validation.append(v) }
        }
        _ = try trainer.run()
        var parameters: [String: [UInt32]] = [:]
        for (name, t) in trainer.model.namedParameters() { parameters[name] = t.toArray().map(\.bitPattern) }
        return (trainer, losses, parameters, validation)
    }

    func testTrainsResumesBitIdenticallyAndSamples() throws {
        let dir = try makeScratchDirectory("masked-diffusion")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try prepareTinyData(in: dir)

        let straight = try run(config(dataDir: data, outDir: dir + "/straight", maxIters: 40))
        let model = try XCTUnwrap(straight.trainer.model as? MaskedDiffusion)
        let loaded = try LoadedModel.load(dir + "/straight")
        let tokenizer = try loadTokenizer(try XCTUnwrap(loaded.tokenizerPath))
        XCTAssertEqual(model.config.vocabSize, tokenizer.vocabularySize + 1, "the mask token is added to the data's vocabulary")
        XCTAssertEqual(model.maskToken, tokenizer.vocabularySize)
        XCTAssertEqual(straight.losses.count, 40)
        // The validation loss (eval_iters random batches and masks, so a noisy estimate of the bound) falls.
        let validation = try XCTUnwrap(straight.validation.first), last = try XCTUnwrap(straight.validation.last)
        XCTAssertLessThan(last, 0.85 * validation, "validation loss \(validation) → \(last)")

        // Stop at 20, resume to 40: the same losses and weights, bit for bit.
        let first = try run(config(dataDir: data, outDir: dir + "/split", maxIters: 20))
        var resume = config(dataDir: data, outDir: dir + "/split", maxIters: 40)
        resume.initFrom = "resume"
        let second = try run(resume)
        XCTAssertEqual(first.losses + second.losses, straight.losses)
        XCTAssertEqual(second.parameters, straight.parameters)

        // The out_dir names the family and samples through LLaDA's sampler, deterministically.
        let sampler = try XCTUnwrap(loaded.model as? MaskedDiffusion)
        var options = DiffusionGenerationOptions()
        options.length = 4; options.steps = 4; options.blockLength = 2; options.temperature = 1
        let prompt = try tokenizer.encode("the ")
        let sample = try sampler.generateDiffusion(prompt: prompt, options: options)
        XCTAssertEqual(sample.count, 4)
        XCTAssertFalse(sample.contains(sampler.maskToken))
        XCTAssertEqual(sample, try sampler.generateDiffusion(prompt: prompt, options: options))
    }

    /// Block diffusion (block_length 4 of block_size 8): one t per block and the masks from the run's generator, so
    /// resume is bit-identical too; the out_dir samples block by block.
    func testBlockDiffusionResumesBitIdenticallyAndSamples() throws {
        let dir = try makeScratchDirectory("block-diffusion")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try prepareTinyData(in: dir)
        let straight = try run(config(dataDir: data, outDir: dir + "/straight", maxIters: 20, blockLength: 4))
        XCTAssertEqual((straight.trainer.model as? MaskedDiffusion)?.config.blockLength, 4)
        let first = try run(config(dataDir: data, outDir: dir + "/split", maxIters: 10, blockLength: 4))
        var resume = config(dataDir: data, outDir: dir + "/split", maxIters: 20, blockLength: 4)
        resume.initFrom = "resume"
        let second = try run(resume)
        XCTAssertEqual(first.losses + second.losses, straight.losses)
        XCTAssertEqual(second.parameters, straight.parameters)

        let loaded = try XCTUnwrap(try LoadedModel.load(dir + "/split").model as? MaskedDiffusion)
        XCTAssertEqual(loaded.config.blockLength, 4)
        var options = DiffusionGenerationOptions()
        options.length = 6; options.steps = 4; options.temperature = 1
        let sample = try loaded.sampleDiffusion(prompt: [1], options: options) { _ in }
        XCTAssertEqual(sample.count, 6)
        XCTAssertEqual(sample, try loaded.generateBlockDiffusion(prompt: [1], options: options, cache: false))
    }

    /// LLaDA's SFT form from a JSONL of {"prompt", "response"}: examples padded with the end-of-text token, the prompt
    /// length in every batch, the validation split held out; a masked-diffusion and a GPT model both learn it.
    func testSFTFromJSONL() throws {
        let dir = try makeScratchDirectory("sft")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try prepareTinyData(in: dir)
        let lines = (0..<20).map { i in
            i % 2 == 0 ? #"{"prompt": "the cat", "response": " sat on the mat"}"# : #"{"id": \#(i), "prompt": "the dog", "response": " sat on the log"}"#
        }
        let path = dir + "/sft.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)

        for modelType in [MaskedDiffusionConfig.modelType, GPTConfig.modelType] {
            var c = config(dataDir: data, outDir: dir + "/out-" + modelType, maxIters: 40)
            c.model.modelType = modelType
            c.blockSize = 24; c.sftData = path; c.sftEOS = "."
            let result = try run(c)
            let sft = try XCTUnwrap(result.trainer.sft)
            XCTAssertEqual(sft.train.count, 18); XCTAssertEqual(sft.val.count, 2)
            let tokenizer = try loadTokenizer(data)
            let dot = try tokenizer.encode(".")[0]
            XCTAssertEqual(Array(sft.train.tokens[0..<24]), try tokenizer.encode("the cat sat on the mat") + [dot, dot])
            XCTAssertEqual(sft.train.promptLengths[0], 7); XCTAssertEqual(sft.train.responseEnds[0], 22)
            let batch = sft.train.batch(2, generator: Generator(seed: 1))
            XCTAssertEqual(batch.promptLengths, [7, 7])
            // Next-token targets: from the last prompt position (predicting the response's first token) to the first end-of-text.
            let row = Array(batch.inputs[0..<24]), targets = Array(batch.targets[0..<24])
            XCTAssertEqual(targets, (0..<24).map { $0 >= 6 && $0 <= 21 ? row[$0 + 1] : -1 })
            let validation = try XCTUnwrap(result.validation.first), last = try XCTUnwrap(result.validation.last)
            XCTAssertLessThan(last, 0.85 * validation, "\(modelType): validation loss \(validation) → \(last)")
        }

        // Errors name the file and line, or the key.
        var c = config(dataDir: data, outDir: dir + "/bad", maxIters: 1)
        c.blockSize = 24; c.sftData = path
        XCTAssertThrowsError(try Trainer(config: c)) { XCTAssertTrue("\($0)".contains("sft_eos"), "\($0)") }   // a char vocabulary has no end-of-text
        c.sftEOS = "ab"
        XCTAssertThrowsError(try Trainer(config: c)) { XCTAssertTrue("\($0)".contains("sft_eos"), "\($0)") }
        c.sftEOS = "."
        try (#"{"prompt": "the cat"}"# + "\n").write(toFile: dir + "/missing.jsonl", atomically: true, encoding: .utf8)
        c.sftData = dir + "/missing.jsonl"
        XCTAssertThrowsError(try Trainer(config: c)) { XCTAssertTrue("\($0)".contains("missing.jsonl:1"), "\($0)") }
        c.sftData = path; c.blockSize = 20
        XCTAssertThrowsError(try Trainer(config: c)) { XCTAssertTrue("\($0)".contains("sft.jsonl:1") && "\($0)".contains("block_size 20"), "\($0)") }
    }

    /// The recipes in configs/ decode strictly and describe the same trunk at equal training settings.
    func testDiffusionRecipesDecode() throws {
        let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../configs").standardized
        func load(_ name: String) throws -> TrainConfig {
            try TrainConfig.decode(Data(contentsOf: configs.appendingPathComponent(name)), source: name)
        }
        let ar = try load("shakespeare_char.json")
        for (name, blockLength) in [("shakespeare_char_diffusion.json", nil), ("shakespeare_char_block4.json", 4), ("shakespeare_char_block16.json", 16)] {
            let c = try load(name)
            XCTAssertEqual(c.model.modelType, MaskedDiffusionConfig.modelType, name)
            XCTAssertEqual(c.model["block_length"], blockLength.map { .int($0) }, name)
            for key in ["n_layer", "n_head", "n_embd"] { XCTAssertEqual(c.model[key], ar.model[key], "\(name) \(key)") }
            XCTAssertEqual(c.maxIters, ar.maxIters); XCTAssertEqual(c.batchSize, ar.batchSize); XCTAssertEqual(c.blockSize, ar.blockSize)
            XCTAssertEqual(c.learningRate, ar.learningRate)
        }
    }
}
