// Philox RNG: determinism, independence from thread count, distribution sanity.
import LMTensor
import XCTest

final class RandomTests: XCTestCase {
    func testSameSeedSameNumbersAndOffsetResumes() {
        let a = Generator(seed: 42), b = Generator(seed: 42)
        XCTAssertEqual(a.uniform(10), b.uniform(10))
        let first = a.normal(7)
        let resumed = Generator(seed: 42, offset: b.offset)
        XCTAssertEqual(resumed.normal(7), first)
        XCTAssertNotEqual(Generator(seed: 43).uniform(4), Generator(seed: 42).uniform(4))
    }

    func testPhiloxKnownAnswer() {
        // Random123's published known-answer vector for philox4x32-10 with counter 0 and key 0.
        let g = Generator(seed: 0)
        XCTAssertEqual(g.nextWords(4), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
    }

    func testDrawsDoNotDependOnThreadCount() {
        Parallel.threadCount = 1
        let one = Tensor.randn([1000], generator: Generator(seed: 7)).toArray()
        Parallel.threadCount = 2
        let two = Tensor.randn([1000], generator: Generator(seed: 7)).toArray()
        XCTAssertEqual(one, two)
    }

    func testMoments() {
        let n = 200_000
        let x = Generator(seed: 1).normal(n)
        let mean = x.reduce(0, +) / Double(n)
        let variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(variance, 1, accuracy: 0.01)
        let u = Generator(seed: 2).uniform(n)
        XCTAssertEqual(u.reduce(0, +) / Double(n), 0.5, accuracy: 0.005)
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
    }

    func testIntegersPermutationMultinomial() {
        let g = Generator(seed: 3)
        let r = g.integers(10_000, low: -3, high: 4)
        XCTAssertEqual(Set(r), Set(-3..<4))
        let p = g.permutation(50)
        XCTAssertEqual(p.sorted(), Array(0..<50))
        XCTAssertNotEqual(p, Array(0..<50))
        let draws = g.multinomial([0, 1, 3], samples: 4000)
        XCTAssertFalse(draws.contains(0))
        XCTAssertEqual(Double(draws.filter { $0 == 2 }.count) / 4000, 0.75, accuracy: 0.03)
        XCTAssertEqual(Set(g.multinomial([1, 1, 1], samples: 3, replacement: false)), [0, 1, 2])
    }
}
