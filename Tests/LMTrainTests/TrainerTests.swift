// The training loop end to end on a tiny model: loss falls, resume is bit-identical to an uninterrupted run,
// eval_only, the written files (checkpoint, model, loss.csv, loss.svg), and checkpoint rejections.
import Foundation
import LMTensor
import LMTokenizers
import XCTest
@testable import LMTrain

final class TrainerTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try makeScratchDirectory("trainer") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testTinyRunLossDropsAndWritesFiles() throws {
        let data = try prepareTinyData(in: dir)
        var config = tinyConfig(dataDir: data, outDir: dir + "/out")
        config.alwaysSaveCheckpoint = false
        let trainer = try Trainer(config: config)
        var evals: [(Int, Double, Double)] = []
        trainer.onEvent = { if case let .eval(i, t, v) = $0 { evals.append((i, t, v)) } }
        let result = try trainer.run()
        XCTAssertEqual(result.iteration, 40)
        XCTAssertEqual(evals.map(\.0), [0, 20, 40])
        // Uniform guessing over the 15-character vocabulary is ln 15 ≈ 2.71 nats.
        XCTAssertGreaterThan(evals[0].2, 2.5)
        XCTAssertLessThan(evals[2].2, evals[0].2 - 0.8, "val loss should fall well below its start: \(evals)")
        for name in ["ckpt.safetensors", "model.safetensors", "config.json", "char_vocab.json", "loss.csv", "loss.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: config.outDir + "/" + name), name)
        }
        let csv = try String(contentsOfFile: config.outDir + "/loss.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.first, "step,train_loss,val_loss,lr,tokens_per_second")
        XCTAssertEqual(csv.count, 1 + 41)  // steps 0...39 with train loss, step 40 with the final val loss
        XCTAssertTrue(csv[1].hasPrefix("0,"))
        let svg = try String(contentsOfFile: config.outDir + "/loss.svg", encoding: .utf8)
        XCTAssertTrue(svg.contains("<svg") && svg.contains("<polyline") && svg.contains(">step<"))

        // The exported model evaluates to the checkpoint's val loss region, and loads through LoadedModel.
        let loaded = try LoadedModel.load(config.outDir)
        XCTAssertEqual(loaded.model.config.vocabularySize, 15)
        XCTAssertEqual(loaded.dataMeta?.tokenizer, "char")
        // out_dir carries the vocabulary, so the model needs no data directory to be used.
        XCTAssertEqual(loaded.tokenizerPath, config.outDir + "/char_vocab.json")
        let tokenizer = try loadTokenizer(loaded.tokenizerPath!)
        XCTAssertTrue(tokenizer is CharTokenizer)
        XCTAssertEqual(tokenizer.vocabularySize, try loadTokenizer(data).vocabularySize)
        XCTAssertEqual(try loaded.textTokenizer(override: nil).vocabularySize, 15)
        XCTAssertTrue(try loaded.textTokenizer(override: "char") is CharTokenizer, "`char`: the data directory's vocabulary")
        let eval = try Evaluation.evaluate(model: loaded.model, text: "the cat sat on the log.\n", tokenizer: tokenizer, blockSize: 8)
        XCTAssertEqual(eval.predictedTokens, 23)
        XCTAssertEqual(eval.characters, 23)
        XCTAssertLessThan(eval.meanLoss, evals[0].2)
        XCTAssertEqual(eval.bitsPerCharacter!, eval.totalNats / 23 / log(2), accuracy: 1e-12)
    }

    /// Runs `config` in memory-free mode and returns (parameters, per-step losses).
    func runToEnd(_ config: TrainConfig) throws -> ([String: [Float]], [Double], [Double]) {
        let trainer = try Trainer(config: config)
        var losses: [Double] = [], vals: [Double] = []
        trainer.onEvent = {
            if case let .step(_, loss, _, _, _) = $0 { losses.append(loss) }
            if case let .eval(_, _, v) = $0 { vals.append(v) }
        }
        _ = try trainer.run()
        var parameters: [String: [Float]] = [:]
        for (name, t) in trainer.model.namedParameters() { parameters[name] = t.toArray() }
        return (parameters, losses, vals)
    }

    func testResumeIsBitIdenticalToUninterruptedRun() throws {
        let data = try prepareTinyData(in: dir)
        var straight = tinyConfig(dataDir: data, outDir: dir + "/straight")
        straight.maxIters = 12
        straight.evalInterval = 6
        straight.model["dropout"] = 0.1          // exercises the dropout generator too
        straight.gradientAccumulationSteps = 2
        let (p1, losses1, vals1) = try runToEnd(straight)

        var half = straight
        half.outDir = dir + "/halves"
        half.maxIters = 6
        let (_, lossesA, _) = try runToEnd(half)
        var resumed = half
        resumed.maxIters = 12
        resumed.initFrom = "resume"
        let (p2, lossesB, valsB) = try runToEnd(resumed)

        XCTAssertEqual(lossesA + lossesB, losses1, "per-step losses must match bit for bit")
        XCTAssertEqual(Array(vals1.suffix(valsB.count)), valsB)
        XCTAssertEqual(p1.keys.sorted(), p2.keys.sorted())
        for (name, values) in p1 {
            XCTAssertEqual(values.map(\.bitPattern), p2[name]!.map(\.bitPattern), name)
        }
        // The loss curve of the resumed run equals the uninterrupted one (tokens/s column aside).
        func curve(_ out: String) throws -> [String] {
            try String(contentsOfFile: out + "/loss.csv", encoding: .utf8).split(separator: "\n")
                .map { $0.split(separator: ",", omittingEmptySubsequences: false).prefix(4).joined(separator: ",") }
        }
        XCTAssertEqual(try curve(straight.outDir), try curve(half.outDir))
    }

    func testEvalOnlyDoesNotTrain() throws {
        let data = try prepareTinyData(in: dir)
        var config = tinyConfig(dataDir: data, outDir: dir + "/evalonly")
        config.evalOnly = true
        let trainer = try Trainer(config: config)
        let before = trainer.model.stateDict()["transformer.wte.weight"]!.toArray()
        var evals = 0
        trainer.onEvent = { if case .eval = $0 { evals += 1 } }
        let result = try trainer.run()
        XCTAssertEqual(result.iteration, 0)
        XCTAssertEqual(evals, 1)
        XCTAssertEqual(trainer.model.stateDict()["transformer.wte.weight"]!.toArray(), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: config.outDir + "/ckpt.safetensors"))
    }

    /// The model's `_no_weight_decay` parameters (Mamba's A_log, D) reach the optimizer's no-decay group; other
    /// matrices keep weight_decay.
    func testModelWeightDecayExemptionsReachTheOptimizer() throws {
        let data = try prepareTinyData(in: dir)
        var config = tinyConfig(dataDir: data, outDir: dir + "/mamba")
        config.model = ModelSection(modelType: "mamba", keys: ["d_model": 8, "n_layer": 1, "d_state": 4])
        let groups = try Trainer(config: config).optimizer.groups
        let decayed = Set(groups.filter { $0.weightDecay > 0 }.flatMap { $0.parameters.map(\.name) })
        let exempt = Set(groups.filter { $0.weightDecay == 0 }.flatMap { $0.parameters.map(\.name) })
        XCTAssertTrue(exempt.isSuperset(of: ["backbone.layers.0.mixer.A_log", "backbone.layers.0.mixer.D"]), "\(exempt)")
        XCTAssertTrue(decayed.contains("backbone.layers.0.mixer.in_proj.weight"), "\(decayed)")
        XCTAssertFalse(decayed.contains("backbone.layers.0.mixer.A_log"))
    }

    func testStopRequestEndsCleanlyAndLeavesLastCheckpoint() throws {
        let data = try prepareTinyData(in: dir)
        var config = tinyConfig(dataDir: data, outDir: dir + "/stop")
        config.evalInterval = 5
        let trainer = try Trainer(config: config)
        var steps = 0
        trainer.onEvent = { if case .step = $0 { steps += 1 } }
        trainer.shouldStop = { steps >= 7 }
        let result = try trainer.run()
        XCTAssertTrue(result.interrupted)
        XCTAssertEqual(result.iteration, 7)
        let checkpoint = try TrainingCheckpoint.load(file: config.outDir + "/ckpt.safetensors")
        XCTAssertEqual(checkpoint.iteration, 5)
        // No temporary files are left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: config.outDir).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }

    func testResumeErrors() throws {
        let data = try prepareTinyData(in: dir)
        var config = tinyConfig(dataDir: data, outDir: dir + "/none")
        config.initFrom = "resume"
        XCTAssertThrowsError(try Trainer(config: config)) { XCTAssertTrue("\($0)".contains("no checkpoint to resume from"), "\($0)") }
        // model.safetensors is weights only: refused with a pointer to ckpt.safetensors.
        var run = tinyConfig(dataDir: data, outDir: dir + "/run")
        run.maxIters = 2
        run.evalInterval = 1
        _ = try Trainer(config: run).run()
        XCTAssertThrowsError(try TrainingCheckpoint.load(file: run.outDir + "/model.safetensors")) {
            XCTAssertTrue("\($0)".contains("not an LMKit training checkpoint"), "\($0)")
        }
        // Resuming with other model keys uses the checkpoint's architecture and says so.
        let second = try TrainingCheckpoint.load(file: run.outDir + "/ckpt.safetensors")
        XCTAssertEqual(second.iteration, 2)
        var wider = run
        wider.initFrom = "resume"
        wider.model["n_layer"] = 2
        wider.maxIters = 3
        let resumed = try Trainer(config: wider)
        var messages: [String] = []
        resumed.onEvent = { if case let .message(m) = $0 { messages.append(m) } }
        _ = try resumed.run()
        XCTAssertEqual((resumed.modelConfig as? GPTConfig)?.nLayer, 1)
        XCTAssertTrue(messages.contains { $0.contains("n_layer") }, "\(messages)")
        // Missing data directory.
        let missing = tinyConfig(dataDir: dir + "/nodata", outDir: dir + "/x")
        XCTAssertThrowsError(try Trainer(config: missing)) { XCTAssertTrue("\($0)".contains("nodata/train.bin"), "\($0)") }
        // A truncated checkpoint is rejected with its name.
        let path = run.outDir + "/ckpt.safetensors"
        let bytes = FileManager.default.contents(atPath: path)!
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TrainingCheckpoint.load(file: path)) { XCTAssertTrue("\($0)".contains(path), "\($0)") }
    }
}
