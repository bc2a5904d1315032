// A GPT with a mixture-of-experts MLP through the real trainer: it learns, and every log step reports the model's
// router losses and expert usage (`TrainEvent.statistics`, from the `TrainingStatisticsReporting` hook).
import Foundation
import LMModels
import LMTensor
import XCTest
@testable import LMTrain

final class MixtureOfExpertsTrainingTests: XCTestCase {
    func testTrainsAndLogsExpertUsage() throws {
        let dir = try makeScratchDirectory("moe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = tinyConfig(dataDir: try prepareTinyData(in: dir), outDir: dir + "/out")
        c.model["n_experts"] = 4
        c.model["capacity_factor"] = 1.5
        c.maxIters = 20
        c.logInterval = 5
        let trainer = try Trainer(config: c)
        var losses: [Double] = [], reports: [(Int, [String: Double])] = []
        trainer.onEvent = {
            if case let .step(_, loss, _, _, _) = $0 { losses.append(loss) }
            if case let .statistics(iteration, values) = $0 { reports.append((iteration, Dictionary(uniqueKeysWithValues: values))) }
        }
        _ = try trainer.run()
        XCTAssertLessThan(losses.last!, losses.first! - 0.5, "the MoE model learns")
        XCTAssertEqual(reports.map(\.0), [1, 6, 11, 16], "one report per log step")
        for (_, values) in reports {
            XCTAssertEqual(Set(values.keys), ["aux_loss", "z_loss", "expert_load_min", "expert_load_max", "dropped"])
            XCTAssertGreaterThan(values["aux_loss"]!, 1.5, "HF's form is about top_k = 2 near balance")
            XCTAssertLessThanOrEqual(values["expert_load_min"]!, 0.25)
        }
    }
}

final class TrainingMemoryTests: XCTestCase {
    /// Tensor storage in use after each step must not grow with the step count (a leak of ~1 MB per step showed up as
    /// 2 GB peak RSS after 800 steps of configs/variants/moe_t256.json).
    func testLiveTensorBytesDoNotGrowAcrossSteps() throws {
        for experts in [0, 4] {
            let dir = try makeScratchDirectory("memory")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var c = tinyConfig(dataDir: try prepareTinyData(in: dir), outDir: dir + "/out")
            if experts > 0 { c.model["n_experts"] = .int(experts) }
            c.maxIters = 40
            c.evalInterval = 1000
            let trainer = try Trainer(config: c)
            var live: [Int] = []
            trainer.onEvent = { if case .step = $0 { live.append(BufferPool.shared.liveByteCount) } }
            _ = try trainer.run()
            XCTAssertEqual(live.count, 40)
            XCTAssertLessThanOrEqual(live[39], live[10] + 64 * 1024, "experts \(experts): live bytes \(live)")
        }
    }
}
