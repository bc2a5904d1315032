// TrainConfig: strict keys, nanoGPT-only keys, overrides and their errors, validation, and get_lr against nanoGPT.
import Foundation
import XCTest
import _TestSupport
@testable import LMTrain

final class TrainConfigTests: XCTestCase {
    func decode(_ json: String) throws -> TrainConfig { try TrainConfig.decode(Data(json.utf8), source: "cfg.json") }

    func testDefaultsAreNanoGPTs() {
        let c = TrainConfig()
        XCTAssertEqual(c.learningRate, 6e-4)
        XCTAssertEqual(c.gradientAccumulationSteps, 40)
        XCTAssertEqual(c.beta2, 0.95)
        XCTAssertEqual(c.seed, 1337)
        XCTAssertEqual(c.model, ModelSection(modelType: "gpt"))
        // nanoGPT train.py's bias = False is the gpt family's training default.
        XCTAssertFalse(try XCTUnwrap(try c.modelConfig(vocabularySize: 65) as? GPTConfig).bias)
    }

    func testUnknownKeyNamesKeyAndFile() {
        XCTAssertThrowsError(try decode("{\"max_iters\": 10, \"learning_rat\": 0.1}")) { error in
            XCTAssertTrue("\(error)".contains("cfg.json"), "\(error)")
            XCTAssertTrue("\(error)".contains("'learning_rat'"), "\(error)")
        }
        XCTAssertThrowsError(try decode("{\"compile\": false}")) { XCTAssertTrue("\($0)".contains("nanoGPT setting"), "\($0)") }
        XCTAssertThrowsError(try decode("{\"max_iters\": \"ten\"}")) { XCTAssertTrue("\($0)".contains("max_iters"), "\($0)") }
        XCTAssertThrowsError(try decode("{\"beta2\": 1.5}")) { XCTAssertTrue("\($0)".contains("beta2"), "\($0)") }
        XCTAssertThrowsError(try decode("{\"warmup_iters\": 100, \"lr_decay_iters\": 100}")) { XCTAssertTrue("\($0)".contains("lr_decay_iters"), "\($0)") }
        XCTAssertThrowsError(try decode("{\"position\": \"xpos\"}")) { XCTAssertTrue("\($0)".contains("position"), "\($0)") }
    }

    func testFileThenOverrides() throws {
        let dir = try makeScratchDirectory("config")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.json"
        try "{\"max_iters\": 10, \"n_layer\": 2, \"dropout\": 0.1, \"decay_lr\": false}".write(toFile: path, atomically: true, encoding: .utf8)
        let c = try TrainConfig.load(path: path, overrides: ["--max_iters", "20", "--dropout=0.0", "--eval-only", "true",
                                                             "--n_kv_head", "none", "--out_dir", "x/y", "--seed", "7"])
        XCTAssertEqual(c.maxIters, 20)
        XCTAssertEqual(c.model["n_layer"], 2)
        XCTAssertEqual(c.model["dropout"], 0.0)
        XCTAssertTrue(c.evalOnly)
        XCTAssertFalse(c.decayLR)
        XCTAssertEqual(c.model["n_kv_head"], ConfigValue.null)
        XCTAssertEqual(c.outDir, "x/y")
        XCTAssertEqual(c.seed, 7)
        // The printed/stored form decodes back to the same config.
        XCTAssertEqual(try decode(c.jsonString()), c)
    }

    func testOverrideErrorsNameTheFlag() {
        func fails(_ words: [String], _ needle: String) {
            XCTAssertThrowsError(try TrainConfig.load(path: nil, overrides: words)) {
                XCTAssertTrue("\($0)".contains(needle), "\($0) should contain \(needle)")
            }
        }
        fails(["--max_iter", "5"], "--max_iter")
        fails(["--max_iter", "5"], "did you mean --max_iters?")
        fails(["--max_iters", "five"], "--max_iters")
        fails(["--max_iters", "five"], "an integer")
        fails(["--decay_lr", "maybe"], "true or false")
        fails(["--learning_rate", "nan"], "a number")
        fails(["--batch_size"], "needs a value")
        fails(["max_iters", "5"], "not a `--key value` override")
        fails(["--device", "cpu"], "nanoGPT setting")
        fails(["--batch_size", "0"], "batch_size")
        XCTAssertThrowsError(try TrainConfig.load(path: "/nonexistent/c.json", overrides: [])) {
            XCTAssertTrue("\($0)".contains("/nonexistent/c.json"))
        }
    }

    struct LRCase: Decodable {
        let name: String
        let learning_rate: Double
        let warmup_iters: Int
        let lr_decay_iters: Int
        let min_lr: Double
        let iterations: [Int]
        let lr: [Double]
    }
    struct LRFixture: Decodable { let cases: [LRCase] }

    func testLearningRateMatchesNanoGPTGetLR() throws {
        let fixture = try loadFixture("train/get_lr.json", as: LRFixture.self)
        XCTAssertEqual(fixture.cases.count, 3)
        for c in fixture.cases {
            var config = TrainConfig()
            config.learningRate = c.learning_rate
            config.warmupIters = c.warmup_iters
            config.lrDecayIters = c.lr_decay_iters
            config.minLR = c.min_lr
            for (it, expected) in zip(c.iterations, c.lr) {
                let got = config.learningRate(at: it)
                XCTAssertEqual(got.bitPattern, expected.bitPattern, "\(c.name) it \(it): \(got) vs nanoGPT \(expected)")
            }
        }
        var constant = TrainConfig()
        constant.decayLR = false
        XCTAssertEqual(constant.learningRate(at: 12345), constant.learningRate)
    }

    func testModelConfig() throws {
        var c = TrainConfig()
        c.model = ModelSection(keys: ["n_layer": 4, "n_head": 4, "n_embd": 128])
        c.blockSize = 64
        let g = try XCTUnwrap(try c.modelConfig(vocabularySize: 65) as? GPTConfig)
        XCTAssertEqual(g.vocabSize, 65)
        XCTAssertEqual(g.blockSize, 64)
        XCTAssertFalse(g.bias)
        c.model["vocab_size"] = 10
        XCTAssertThrowsError(try c.modelConfig(vocabularySize: 65)) { XCTAssertTrue("\($0)".contains("vocab_size")) }
        c.model["vocab_size"] = nil
        c.model["n_embd"] = 130
        XCTAssertThrowsError(try c.modelConfig(vocabularySize: 65)) { XCTAssertTrue("\($0)".contains("n_embd")) }
    }
}

extension TrainConfigTests {
    func testOverridesCanRepairAFileValueAndFileKeysAreCheckedAlone() throws {
        let dir = try makeScratchDirectory("config-repair")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.json"
        try "{\"warmup_iters\": 100, \"lr_decay_iters\": 80}".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainConfig.load(path: path, overrides: [])) { XCTAssertTrue("\($0)".contains("lr_decay_iters"), "\($0)") }
        XCTAssertEqual(try TrainConfig.load(path: path, overrides: ["--warmup_iters", "10"]).warmupIters, 10)
        try "{\"n_layers\": 2}".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainConfig.load(path: path, overrides: ["--max_iters", "3"])) { error in
            XCTAssertTrue("\(error)".hasPrefix(path + ": unknown key 'n_layers'"), "\(error)")
        }
        try "[1, 2]".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainConfig.load(path: path, overrides: [])) { XCTAssertTrue("\($0)".contains("not a JSON object"), "\($0)") }
    }
}

extension TrainConfigTests {
    /// The nested model section, `--model.KEY` overrides, and the flat nanoGPT keys landing in the same place.
    func testNestedModelSectionAndOverrides() throws {
        let dir = try makeScratchDirectory("config-nested")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/c.json"
        try #"{"max_iters": 10, "model": {"model_type": "gpt", "n_layer": 3, "position": "rope"}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let c = try TrainConfig.load(path: path, overrides: ["--model.n_layer", "6", "--n_head", "2", "--model.rope_theta=500000"])
        XCTAssertEqual(c.model["n_layer"], 6)
        XCTAssertEqual(c.model["n_head"], 2)
        XCTAssertEqual(c.model["position"], "rope")
        let g = try XCTUnwrap(try c.modelConfig(vocabularySize: 65) as? GPTConfig)
        XCTAssertEqual([g.nLayer, g.nHead, g.vocabSize, g.blockSize], [6, 2, 65, 1024])
        XCTAssertEqual(g.ropeTheta, 500000)
        XCTAssertEqual(try decode(c.jsonString()), c)
        // The command line wins over a file's flat nanoGPT key.
        try #"{"n_layer": 1, "n_head": 1}"#.write(toFile: path + ".flat", atomically: true, encoding: .utf8)
        XCTAssertEqual(try TrainConfig.load(path: path + ".flat", overrides: ["--model.n_layer", "5"]).model["n_layer"], 5)
        XCTAssertThrowsError(try TrainConfig.load(path: path, overrides: ["--model.n_layr", "6"])) {
            XCTAssertTrue("\($0)".contains("'n_layr'") && "\($0)".contains(path), "\($0)")
        }
        XCTAssertThrowsError(try TrainConfig.load(path: path, overrides: ["--model.n_layer", "six"])) {
            XCTAssertTrue("\($0)".contains("n_layer"), "\($0)")
        }
    }
}

extension TrainConfigTests {
    /// `"objective": "masked-diffusion"` / `"block-diffusion"` name the masked-diffusion family (the latter with its
    /// block_length); contradictions are errors naming the key.
    func testDiffusionObjectiveAlias() throws {
        let dir = try makeScratchDirectory("config-objective")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func load(_ model: String, _ overrides: [String] = []) throws -> TrainConfig {
            let path = dir + "/c.json"
            try #"{"block_size": 16, "model": {\#(model)}}"#.write(toFile: path, atomically: true, encoding: .utf8)
            return try TrainConfig.load(path: path, overrides: overrides)
        }
        let md = try load(#""objective": "masked-diffusion", "n_layer": 1"#)
        XCTAssertEqual(md.model, ModelSection(modelType: "masked-diffusion", keys: ["n_layer": 1]))
        let bd = try load(#""objective": "block-diffusion", "block_length": 4"#)
        XCTAssertEqual(bd.model, ModelSection(modelType: "masked-diffusion", keys: ["block_length": 4]))
        XCTAssertEqual(try XCTUnwrap(try bd.modelConfig(vocabularySize: 65) as? MaskedDiffusionConfig).blockLength, 4)
        XCTAssertEqual(try load(#""model_type": "masked-diffusion", "objective": "masked-diffusion""#).model.modelType, "masked-diffusion")
        XCTAssertEqual(try load(#""n_layer": 1"#, ["--model.objective", "block-diffusion", "--model.block_length", "2"]).model,
                       ModelSection(modelType: "masked-diffusion", keys: ["n_layer": 1, "block_length": 2]))
        for (model, message) in [(#""objective": "block-diffusion""#, "needs block_length"),
                                 (#""objective": "masked-diffusion", "block_length": 4"#, "has no block_length"),
                                 (#""objective": "diffusion""#, "must be"),
                                 (#""model_type": "gpt", "objective": "masked-diffusion""#, "model_type is \"gpt\"")] {
            XCTAssertThrowsError(try load(model), model) { XCTAssertTrue("\($0)".contains("objective") && "\($0)".contains(message), "\($0)") }
        }
    }
}
