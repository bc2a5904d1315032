// Shared helpers of the LMTrain tests: scratch directories, a prepared character data directory and a tiny config.
import Foundation
import XCTest
@testable import LMTrain

/// A fresh directory under the system temp dir, removed by the caller's `defer`.
func makeScratchDirectory(_ name: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("lmtrain-\(name)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A small repetitive text a tiny model can learn quickly.
let tinyCorpus = String(repeating: "the cat sat on the mat. the dog sat on the log.\n", count: 60)

/// Prepares `tinyCorpus` (char tokenizer) into `directory/data` and returns that path.
func prepareTinyData(in directory: String) throws -> String {
    let input = directory + "/input.txt"
    try tinyCorpus.write(toFile: input, atomically: true, encoding: .utf8)
    let data = directory + "/data"
    _ = try DataPreparation.prepare(tokenizer: "char", inputPath: input, outputDirectory: data)
    return data
}

/// A tiny GPT run configuration on `dataDir` writing to `outDir`.
func tinyConfig(dataDir: String, outDir: String) -> TrainConfig {
    var c = TrainConfig()
    c.dataDir = dataDir
    c.outDir = outDir
    c.model = ModelSection(keys: ["n_layer": 1, "n_head": 2, "n_embd": 16])
    c.blockSize = 8
    c.batchSize = 4
    c.gradientAccumulationSteps = 1
    c.maxIters = 40
    c.evalInterval = 20
    c.evalIters = 2
    c.learningRate = 1e-2
    c.warmupIters = 5
    c.lrDecayIters = 40
    c.minLR = 1e-3
    c.beta2 = 0.99
    return c
}

/// Runs `trainer` to the end and returns the loss of every optimizer step, in order.
func losses(_ trainer: Trainer) throws -> [Double] {
    var losses: [Double] = []
    trainer.onEvent = { if case let .step(_, loss, _, _, _) = $0 { losses.append(loss) } }
    _ = try trainer.run()
    return losses
}
