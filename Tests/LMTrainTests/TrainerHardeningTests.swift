// Hostile training input (issue 12): sizes no machine can hold are refused with the estimate before anything is
// allocated, a non-finite loss stops the run keeping the last finite checkpoint, a broken or missing meta.json and
// duplicate config keys fail up front, and two runs cannot share an out_dir.
import Foundation
import LMModels
import LMTensor
import XCTest
@testable import LMTrain

final class TrainerHardeningTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try makeScratchDirectory("trainer-hardening") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testSizesBeyondTheMachineAreRefusedWithTheEstimate() throws {
        let data = try prepareTinyData(in: dir)
        var huge: [(String, TrainConfig)] = []
        var c = tinyConfig(dataDir: data, outDir: dir + "/out")
        c.batchSize = 1_000_000_000_000
        huge.append(("batch_size", c))
        c = tinyConfig(dataDir: data, outDir: dir + "/out")
        c.model["n_embd"] = 1_000_000
        huge.append(("n_embd", c))
        c = tinyConfig(dataDir: data, outDir: dir + "/out")
        c.model["n_layer"] = 100_000
        c.model["n_embd"] = 256
        c.batchSize = 12
        c.blockSize = 256
        c.model["block_size"] = 256
        huge.append(("n_layer", c))
        for (what, config) in huge {
            let start = Date()
            XCTAssertThrowsError(try Trainer(config: config), what) { error in
                XCTAssertTrue("\(error)".contains("needs an estimated") && "\(error)".contains("of memory"), "\(what): \(error)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(start), 5, "\(what): refused before allocating")
        }
        // Forward passes per step or eval that would never end, and overflowing products, are refused when the
        // config is decoded.
        for key in ["--gradient_accumulation_steps", "--eval_iters"] {
            XCTAssertThrowsError(try TrainConfig.load(path: nil, overrides: [key, "1000000000000"])) { XCTAssertTrue("\($0)".contains(key.dropFirst(2)), "\($0)") }
        }
        XCTAssertThrowsError(try TrainConfig.load(path: nil, overrides: ["--batch_size", "\(Int.max / 2)", "--block_size", "1024"])) {
            XCTAssertTrue("\($0)".contains("batch_size"), "\($0)")
        }
    }

    func testNonFiniteLossStopsTheRunAndKeepsTheLastFiniteCheckpoint() throws {
        let data = try prepareTinyData(in: dir)
        var config = tinyConfig(dataDir: data, outDir: dir + "/nan")
        config.learningRate = 1e30
        config.warmupIters = 0
        config.decayLR = false
        config.evalInterval = 1
        config.maxIters = 20
        let trainer = try Trainer(config: config)
        XCTAssertThrowsError(try trainer.run()) { XCTAssertTrue("\($0)".contains("non-finite loss"), "\($0)") }
        let path = config.outDir + "/ckpt.safetensors"
        if FileManager.default.fileExists(atPath: path) {
            let checkpoint = try TrainingCheckpoint.load(file: path)
            XCTAssertTrue(checkpoint.lastValLoss.isFinite && checkpoint.lastTrainLoss.isFinite)
            XCTAssertTrue(checkpoint.weights.values.allSatisfy { $0.toArray().allSatisfy(\.isFinite) }, "saved weights are finite")
        }
    }

    func testBrokenOrMissingMetaJSONFailsUpFront() throws {
        let data = try prepareTinyData(in: dir)
        let meta = data + "/meta.json"
        try Data("{\"format\": ".utf8).write(to: URL(fileURLWithPath: meta))
        XCTAssertThrowsError(try Trainer(config: tinyConfig(dataDir: data, outDir: dir + "/out"))) { XCTAssertTrue("\($0)".contains("meta.json"), "\($0)") }
        try FileManager.default.removeItem(atPath: meta)
        XCTAssertThrowsError(try Trainer(config: tinyConfig(dataDir: data, outDir: dir + "/out"))) { XCTAssertTrue("\($0)".contains("meta.json: missing"), "\($0)") }
    }

    func testDuplicateConfigKeysAreRefusedNamingKeyAndLine() throws {
        let path = dir + "/train.json"
        try "{\n  \"max_iters\": 10,\n  \"model\": {\"n_layer\": 2,\n    \"n_layer\": 4}\n}".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainConfig.load(path: path, overrides: [])) {
            XCTAssertTrue("\($0)".contains("line 4: duplicate key 'model.n_layer'"), "\($0)")
        }
        try "{\"max_iters\": 10, \"max_iters\": 20}".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainConfig.load(path: path, overrides: [])) { XCTAssertTrue("\($0)".contains("duplicate key 'max_iters'"), "\($0)") }
    }

    func testTwoTrainersCannotShareAnOutDir() throws {
        let data = try prepareTinyData(in: dir)
        var config = tinyConfig(dataDir: data, outDir: dir + "/shared")
        config.maxIters = 3
        config.evalInterval = 3
        let first = try Trainer(config: config)
        var secondError: Error?
        first.onEvent = { event in
            guard case .step(1, _, _, _, _) = event else { return }
            // While the first run holds out_dir, a second run into it must be refused at once.
            do { _ = try Trainer(config: config).run() } catch { secondError = error }
        }
        _ = try first.run()
        let message = secondError.map { "\($0)" } ?? "no error"
        XCTAssertTrue(message.contains("is in use by another process") && message.contains("pid \(getpid())"), message)
        // After the first run ends the lock is free: a resume (as after a crash) works.
        config.initFrom = "resume"
        config.maxIters = 4
        XCTAssertEqual(try Trainer(config: config).run().iteration, 4)
    }
}
