// Dropout: identity in eval mode, seeded masks reproducible, survivors scaled by 1/(1-p), drop rate near p.
import XCTest
import LMTensor
@testable import LMNN

final class DropoutTests: XCTestCase {
    func testSeededTrainingAndEvalIdentity() {
        let x = Tensor.ones([4000])
        let a = Dropout(0.25, generator: Generator(seed: 42)), b = Dropout(0.25, generator: Generator(seed: 42))
        let ya = a(x).toArray(), yb = b(x).toArray()
        XCTAssertEqual(ya, yb, "same seed, same mask")
        XCTAssertNotEqual(a(x).toArray(), ya, "the generator advances between calls")
        XCTAssertTrue(ya.allSatisfy { $0 == 0 || Swift.abs($0 - 1 / 0.75) < 1e-6 })
        let dropped = Double(ya.filter { $0 == 0 }.count) / 4000
        XCTAssertEqual(dropped, 0.25, accuracy: 0.03) // binomial sd ≈ 0.007
        a.eval()
        XCTAssertTrue(a(x) === x || a(x).toArray() == x.toArray())
        XCTAssertEqual(a.parameterCount, 0)
    }
}
