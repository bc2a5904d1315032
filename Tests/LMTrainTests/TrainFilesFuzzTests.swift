// Seeded mutation fuzzing of the training readers (issue 12): token files, the training config JSON, meta.json and
// training checkpoints. A mutated file must be refused with an error or read back whole, without a crash.
// LMKIT_FUZZ_ITERATIONS=N for a longer run.
import Foundation
import LMTensor
import XCTest
import _TestSupport
@testable import LMTrain

final class TrainFilesFuzzTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try makeScratchDirectory("train-fuzz") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testFuzzTokenFiles() throws {
        for (index, vocabulary) in [100, 70_000].enumerated() {
            let path = dir + "/tokens-\(vocabulary).bin"
            try TokenFile.write((0..<200).map { $0 * 7 % vocabulary }, vocabularySize: vocabulary, to: path)
            let seed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let outcome = try Fuzzer.run(seed, seed: 51 + UInt64(index), iterations: Fuzzer.iterations(default: 60), writingTo: path) { _ in
                let file = try TokenFile(path: path)
                let tokens = file.tokens(0..<file.count)
                XCTAssertTrue(tokens.allSatisfy { $0 >= 0 && $0 < file.vocabularySize }, "ids are checked on load")
            }
            XCTAssertGreaterThan(outcome.rejected, 0)
        }
    }

    func testFuzzTrainConfigJSON() throws {
        let seed = [UInt8](try Data(contentsOf: fixtureURL("train/legacy-v1/train_config.json")))
        let path = dir + "/train.json"
        let outcome = try Fuzzer.run(seed, seed: 53, iterations: Fuzzer.iterations(default: 80), writingTo: path) { _ in
            let config = try TrainConfig.load(path: path, overrides: [])
            _ = config.jsonString()
            _ = try config.modelConfig(vocabularySize: 65)
        }
        XCTAssertGreaterThan(outcome.rejected, 0)
        XCTAssertGreaterThan(outcome.accepted, 0)
    }

    func testFuzzDataMeta() throws {
        let seed = [UInt8](try Data(contentsOf: fixtureURL("train/legacy-v1/data/meta.json")))
        let outcome = try Fuzzer.run(seed, seed: 54, iterations: Fuzzer.iterations(default: 60), writingTo: dir + "/meta.json") { _ in
            _ = try DataMeta.load(directory: dir).jsonData()
        }
        XCTAssertGreaterThan(outcome.rejected, 0)
        XCTAssertGreaterThan(outcome.accepted, 0)
    }

    func testFuzzTrainingCheckpoint() throws {
        let seed = [UInt8](try Data(contentsOf: fixtureURL("train/legacy-v1/out/ckpt.safetensors")))
        let path = dir + "/ckpt.safetensors"
        let outcome = try Fuzzer.run(seed, seed: 55, iterations: Fuzzer.iterations(default: 30), writingTo: path) { _ in
            let checkpoint = try TrainingCheckpoint.load(file: path)
            _ = checkpoint.weights.values.reduce(0) { $0 + $1.count }
        }
        XCTAssertGreaterThan(outcome.rejected, 0)
    }
}
