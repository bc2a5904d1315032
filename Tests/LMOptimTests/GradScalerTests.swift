// GradScaler's state machine against torch.amp.GradScaler("cpu") (fixture tensor/mixed_precision.json): the same
// gradients, with inf/NaN injected on some steps, give the same scaled and unscaled gradients, skipped steps, scales,
// growth trackers and SGD weights, bit for bit.
import XCTest
import LMTensor
import _TestSupport
@testable import LMOptim

private struct ScalerFixture: Decodable {
    struct Defaults: Decodable { let init_scale: Float; let growth_factor: Float; let backoff_factor: Float; let growth_interval: Int }
    struct Step: Decodable {
        struct Inject: Decodable { let index: Int; let value: String }
        let coefficients: [Float]
        let inject: Inject?
    }
    struct Expected: Decodable {
        let scaled_grad_bits: [UInt32]; let unscaled_grad_bits: [UInt32]; let skipped: Bool
        let scale_after: Float; let growth_tracker_after: Int; let weight_bits: [UInt32]
    }
    struct Case: Decodable {
        let init_scale: Float; let growth_factor: Float; let backoff_factor: Float; let growth_interval: Int
        let steps: [Step]; let expected: [Expected]
    }
    let grad_scaler_defaults: Defaults
    let grad_scaler: [Case]
}

final class GradScalerTests: XCTestCase {
    func testDefaultsAreTorchs() throws {
        let d = try loadFixture("tensor/mixed_precision.json", as: ScalerFixture.self).grad_scaler_defaults
        let s = GradScaler()
        XCTAssertEqual(s.scale, d.init_scale)
        XCTAssertEqual(s.growthFactor, d.growth_factor)
        XCTAssertEqual(s.backoffFactor, d.backoff_factor)
        XCTAssertEqual(s.growthInterval, d.growth_interval)
    }

    func testSequencesMatchTorch() throws {
        let cases = try loadFixture("tensor/mixed_precision.json", as: ScalerFixture.self).grad_scaler
        for (c, testCase) in cases.enumerated() {
            let w = Tensor([0.5, -1.0, 2.0], shape: [3], requiresGrad: true)
            let optimizer = SGD([("w", w)], learningRate: 0.1)
            let scaler = GradScaler(initScale: testCase.init_scale, growthFactor: testCase.growth_factor,
                                    backoffFactor: testCase.backoff_factor, growthInterval: testCase.growth_interval)
            var skipped = 0
            for (i, (step, expected)) in zip(testCase.steps, testCase.expected).enumerated() {
                let at = "case \(c) step \(i)"
                optimizer.zeroGrad()
                scaler.scaled((w * Tensor(step.coefficients, shape: [3])).sum()).backward()
                if let inject = step.inject {
                    let value: Float = inject.value == "nan" ? .nan : (inject.value == "-inf" ? -.infinity : .infinity)
                    w.grad!.pointer(Float.self)[inject.index] = value
                }
                XCTAssertEqual(w.grad!.toArray().map(\.bitPattern), expected.scaled_grad_bits, at)
                let found = scaler.unscale(optimizer)
                XCTAssertEqual(found, expected.skipped, at)
                // NaN bits may differ in payload only; compare NaN-ness there.
                for (a, e) in zip(w.grad!.toArray(), expected.unscaled_grad_bits.map { Float(bitPattern: $0) }) {
                    if e.isNaN { XCTAssertTrue(a.isNaN, at) } else { XCTAssertEqual(a.bitPattern, e.bitPattern, at) }
                }
                let stepped = scaler.step(optimizer)
                XCTAssertEqual(!stepped, expected.skipped, at)
                scaler.update()
                if expected.skipped { skipped += 1 }
                XCTAssertEqual(scaler.scale, expected.scale_after, at)
                XCTAssertEqual(scaler.growthTracker, expected.growth_tracker_after, at)
                XCTAssertEqual(w.toArray().map(\.bitPattern), expected.weight_bits, at)
            }
            XCTAssertEqual(scaler.skippedSteps, skipped)
            // Skipped steps do not advance the optimizer (torch never calls optimizer.step() for them).
            XCTAssertEqual(optimizer.stepCount, testCase.steps.count - skipped)
            XCTAssertGreaterThan(skipped, 0)
        }
    }

    func testStateRoundTripsAndIsValidated() throws {
        let scaler = GradScaler(initScale: 8, growthInterval: 5)
        try scaler.load(.init(scale: 2048, growthTracker: 3, skippedSteps: 7))
        XCTAssertEqual(scaler.state, .init(scale: 2048, growthTracker: 3, skippedSteps: 7))
        XCTAssertThrowsError(try scaler.load(.init(scale: 0, growthTracker: 0, skippedSteps: 0)))
        XCTAssertThrowsError(try scaler.load(.init(scale: .infinity, growthTracker: 0, skippedSteps: 0)))
        XCTAssertThrowsError(try scaler.load(.init(scale: 1, growthTracker: 5, skippedSteps: 0))) { XCTAssertTrue("\($0)".contains("growth tracker")) }
    }

    /// Growth stops at the largest finite scale instead of overflowing to inf (torch checks isfinite too).
    func testGrowthNeverReachesInfinity() {
        let scaler = GradScaler(initScale: Float.greatestFiniteMagnitude, growthInterval: 1)
        let w = Tensor([1], shape: [1], requiresGrad: true)
        let optimizer = SGD([("w", w)], learningRate: 0)
        w.grad = Tensor([1], shape: [1])
        scaler.step(optimizer)
        scaler.update()
        XCTAssertEqual(scaler.scale, Float.greatestFiniteMagnitude)
        XCTAssertEqual(scaler.growthTracker, 0)
    }
}
