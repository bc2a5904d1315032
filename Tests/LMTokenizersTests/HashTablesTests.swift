// ByteSpanTable and PairTable against Swift's Dictionary on random keys (growth, collisions, empty and long keys).
import Foundation
import XCTest
@testable import LMTokenizers

final class HashTablesTests: XCTestCase {
    func testByteSpanTableMatchesDictionary() {
        var rng = SplitMix64(seed: 11)
        var table = ByteSpanTable(expectedCount: 4)
        var reference: [[UInt8]: Int32] = [:]
        for i in 0..<5000 {
            let key = (0..<Int(rng.next() % 20)).map { _ in UInt8(rng.next() % 4) }
            reference[key] = Int32(i)
            table.insert(key, value: Int32(i))
        }
        for (key, value) in reference { XCTAssertEqual(table.lookup(key), value) }
        XCTAssertEqual(table.count, reference.count)
        XCTAssertEqual(table.lookup([9, 9, 9, 9, 9, 9, 9, 9, 9]), -1)
    }

    func testPairTableFirstInsertWins() {
        var pairs = PairTable(expectedCount: 2)
        for i in Int32(0)..<1000 { pairs.insertIfAbsent(i, i &+ 1, rank: i, mergedID: i * 2) }
        pairs.insertIfAbsent(5, 6, rank: 99, mergedID: 99)
        let slot = pairs.find(5, 6)
        XCTAssertEqual(pairs.rank(at: slot), 5)
        XCTAssertEqual(pairs.mergedID(at: slot), 10)
        XCTAssertEqual(pairs.find(6, 5), -1)
        XCTAssertEqual(pairs.count, 1000)
    }

    func testBytesEqual() {
        let a: [UInt8] = Array(0..<20), b = a
        var c = a; c[17] = 99
        XCTAssertTrue(bytesEqual(a, b, 20))
        XCTAssertFalse(bytesEqual(a, c, 20))
        XCTAssertTrue(bytesEqual(a, c, 17))
    }
}
