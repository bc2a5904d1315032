// Statistics and summaries behind `lmkit safetensors inspect`, checked on the Python-written fixture.
import XCTest
@testable import LMCheckpoint
import _TestSupport

final class SafetensorsSummaryTests: XCTestCase {
    func testStatisticsCountNonFiniteValuesApart() throws {
        let file = try SafetensorsFile(path: fixtureURL("safetensors/python_dtypes.safetensors").path)
        // half = [0, -0, 1, -65504, 6.1e-5, 5.96e-8, inf, nan] as F16.
        let stats = file.statistics(of: file.entry("half")!)
        XCTAssertEqual(stats.finiteCount, 6)
        XCTAssertEqual(stats.nanCount, 1)
        XCTAssertEqual(stats.infinityCount, 1)
        XCTAssertEqual(stats.minimum, -65504)
        XCTAssertEqual(stats.maximum, 1)
        XCTAssertEqual(stats.mean!, (1 - 65504 + Double(Float(Float16(6.1e-5))) + Double(Float(Float16(5.96e-8)))) / 6, accuracy: 1e-9)
        let empty = file.statistics(of: file.entry("empty")!)
        XCTAssertEqual(empty.finiteCount, 0)
        XCTAssertNil(empty.mean)
    }

    func testSummaryListsEveryTensorWithItsHead() throws {
        let file = try SafetensorsFile(path: fixtureURL("safetensors/python_dtypes.safetensors").path)
        let summary = file.summary(headCount: 2)
        XCTAssertEqual(summary.tensors.map(\.name), file.names)
        XCTAssertEqual(summary.metadata?["format"], "pt")
        let ids = summary.tensors.first { $0.name == "ids.i32" }!
        XCTAssertEqual(ids.dtype, "I32")
        XCTAssertEqual(ids.shape, [2, 2])
        XCTAssertEqual(ids.head, [7, -2147483648])
        XCTAssertEqual(ids.statistics.maximum, 2147483648)   // 2^31 - 1 rounds to 2^31 in float32, as in torch .float()
    }
}
