// .npy writing: the header numpy writes for a float32 (2, 3) array (padded to 64 bytes), values little-endian, and
// the reader round trip.
import Foundation
import XCTest
@testable import LMCheckpoint

final class NPYTests: XCTestCase {
    func testHeaderAndValuesAsNumpyWritesThem() throws {
        let rows: [[Float]] = [[1, -2.5, 3], [0.1, 1e-8, -0]]
        let data = NPY.float32Matrix(rows)
        // numpy.save(f, np.array(rows, dtype='<f4')) writes exactly this 64-byte preamble.
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
        let header = dict + String(repeating: " ", count: 118 - 1 - dict.utf8.count) + "\n"
        XCTAssertEqual(data.count % 4, 0)
        XCTAssertEqual(Array(data.prefix(10)), [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0])
        XCTAssertEqual(String(decoding: data[10..<128], as: UTF8.self), header)
        XCTAssertEqual(data.count, 128 + 6 * 4)
        let back = try XCTUnwrap(NPY.readFloat32Matrix(data))
        XCTAssertEqual(back.shape, [2, 3])
        XCTAssertEqual(back.values, rows.flatMap { $0 })
    }
}
