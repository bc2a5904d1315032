// Schedules against the fixture tables (nanoGPT get_lr and HF linear warmup, evaluated by
// Scripts/fixtures/optim_fixture.py) and the stepping API on an optimizer's groups.
import XCTest
import LMTensor
import _TestSupport
@testable import LMOptim

final class LearningRateScheduleTests: XCTestCase {
    func testSchedulesMatchReferenceTables() throws {
        let fixture = try loadFixture("optim/optim.json", as: OptimFixture.self)
        let cosine = fixture.schedules["cosine"]!, linear = fixture.schedules["linear"]!, linearEnd = fixture.schedules["linear_end"]!
        let cases: [(OptimFixture.ScheduleTable, any LearningRateSchedule)] = [
            (cosine, CosineSchedule(warmupSteps: cosine.warmup, decaySteps: cosine.decay!, minFactor: cosine.min_factor!)),
            (linear, LinearSchedule(warmupSteps: linear.warmup, totalSteps: linear.total!, endFactor: linear.end_factor!)),
            (linearEnd, LinearSchedule(warmupSteps: linearEnd.warmup, totalSteps: linearEnd.total!, endFactor: linearEnd.end_factor!)),
        ]
        for (table, schedule) in cases {
            for (step, expected) in table.lrs.enumerated() {
                XCTAssertEqual(schedule.learningRate(at: step, base: table.base), expected, accuracy: 1e-12 * table.base, "step \(step)")
            }
        }
        // Shape checks independent of the table: warmup rises, the end value holds after decay.
        let s = CosineSchedule(warmupSteps: 5, decaySteps: 40, minFactor: 0.1)
        XCTAssertEqual(s.factor(at: 4), 5.0 / 6)
        XCTAssertEqual(s.factor(at: 5), 1, accuracy: 1e-15)
        XCTAssertEqual(s.factor(at: 1000), 0.1)
        XCTAssertEqual(ConstantSchedule().factor(at: 123), 1)
    }

    func testApplyScheduleScalesEachGroupsInitialRate() {
        let a = Tensor([1, 2], shape: [2], requiresGrad: true), b = Tensor([3], shape: [1], requiresGrad: true)
        let opt = SGD(groups: [ParameterGroup([("a", a)], learningRate: 0.1), ParameterGroup([("b", b)], learningRate: 0.01)])
        let lr = opt.applySchedule(LinearSchedule(warmupSteps: 4, totalSteps: 10), step: 2)
        XCTAssertEqual(lr, 0.05, accuracy: 1e-15)
        XCTAssertEqual(opt.groups[1].learningRate, 0.005, accuracy: 1e-15)
        XCTAssertEqual(opt.groups[1].initialLearningRate, 0.01)
        a.grad = Tensor([0, 0], shape: [2])
        opt.step(); opt.step(); opt.step()
        XCTAssertEqual(opt.applySchedule(LinearSchedule(warmupSteps: 4, totalSteps: 10)), 0.075, accuracy: 1e-15) // step 3
    }
}
