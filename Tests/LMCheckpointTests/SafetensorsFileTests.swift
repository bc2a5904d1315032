// Reading safetensors: the committed file written by Python `safetensors` (every dtype, metadata) must decode to the
// values torch's `.float()` gives, F32 must be zero-copy, and each kind of corrupt file must throw a clear error.
import Foundation
import XCTest
@testable import LMCheckpoint
import LMTensor
import _TestSupport

/// A fresh temporary directory, removed by the caller's `addTeardownBlock`.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> String {
    let path = NSTemporaryDirectory() + "lmkit-ckpt-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// Raw safetensors bytes: the 8-byte length (declared or the real one), the header and the data.
func safetensorsBytes(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    let json = Array(header.utf8)
    var bytes: [UInt8] = []
    withUnsafeBytes(of: (declaredLength ?? UInt64(json.count)).littleEndian) { bytes.append(contentsOf: $0) }
    return bytes + json + data
}

private struct DTypeFixture: Decodable {
    struct Entry: Decodable {
        let dtype: String
        let shape: [Int]
        let float32_bits: [UInt32]
    }
    let metadata: [String: String]
    let tensors: [String: Entry]
}

final class SafetensorsFileTests: XCTestCase {
    func testReadsEveryDTypeWrittenByPython() throws {
        let expected = try loadFixture("safetensors/python_dtypes.json", as: DTypeFixture.self)
        let file = try SafetensorsFile(path: fixtureURL("safetensors/python_dtypes.safetensors").path)
        XCTAssertEqual(file.metadata, expected.metadata)
        XCTAssertTrue(file.hasMetadata)
        XCTAssertEqual(Set(file.names), Set(expected.tensors.keys))
        let torchToSafetensors = ["torch.float32": "F32", "torch.float64": "F64", "torch.float16": "F16", "torch.bfloat16": "BF16",
                                  "torch.int64": "I64", "torch.int32": "I32", "torch.int16": "I16", "torch.int8": "I8",
                                  "torch.uint8": "U8", "torch.bool": "BOOL", "torch.float8_e4m3fn": "F8_E4M3", "torch.float8_e5m2": "F8_E5M2"]
        for (name, want) in expected.tensors {
            let entry = try XCTUnwrap(file.entry(name), name)
            XCTAssertEqual(entry.dtype.rawValue, torchToSafetensors[want.dtype], name)
            XCTAssertEqual(entry.shape, want.shape, name)
            let tensor = try file.tensor(name)
            XCTAssertEqual(tensor.shape, want.shape, name)
            XCTAssertEqual(tensor.dtype, .float32)
            let got = tensor.toArray()
            XCTAssertEqual(got.count, want.float32_bits.count, name)
            for (i, (value, bits)) in zip(got, want.float32_bits).enumerated() {
                let reference = Float(bitPattern: bits)
                if reference.isNaN { XCTAssertTrue(value.isNaN, "\(name)[\(i)]") } else {
                    XCTAssertEqual(value.bitPattern, bits, "\(name)[\(i)]: got \(value), torch \(reference)")
                }
            }
        }
    }

    func testFloat64DestinationKeepsDoublePrecision() throws {
        let file = try SafetensorsFile(path: fixtureURL("safetensors/python_dtypes.safetensors").path)
        let t = try file.tensor("layer.0.f64", as: .float64)
        XCTAssertEqual(t.toDoubles(), [1.0 / 3, -2.5e-300, 1e300])
        XCTAssertEqual(try file.tensor("ids.i64", as: .float64).toDoubles(), [0, -1, Double(1 << 40 + 1), -Double(1 << 62)])
    }

    func testAlignedFloat32IsBorrowedFromTheMapping() throws {
        let file = try SafetensorsFile(path: fixtureURL("safetensors/python_dtypes.safetensors").path)
        let entry = try XCTUnwrap(file.entry("layer.0.weight"))
        XCTAssertTrue(file.isZeroCopy(entry))
        let tensor = try file.tensor("layer.0.weight")
        let mappingStart = UnsafeRawPointer(file.mapping.base!)
        XCTAssertEqual(UnsafeRawPointer(tensor.storage.base), mappingStart + file.dataSectionOffset + entry.dataOffsets.lowerBound)
        XCTAssertFalse(file.isZeroCopy(try XCTUnwrap(file.entry("half"))))
    }

    func testWritingIntoABorrowedTensorLeavesTheFileUnchanged() throws {
        let directory = try makeTemporaryDirectory(self)
        let path = directory + "/w.safetensors"
        try saveSafetensors(["w": Tensor([1, 2, 3, 4], shape: [4])], to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            let tensor = try SafetensorsFile(path: path).tensor("w")
            tensor.pointer(Float.self)[0] = 42   // copy-on-write page: must not fault, must not reach the file
            XCTAssertEqual(tensor.toArray(), [42, 2, 3, 4])
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
        XCTAssertEqual(try SafetensorsFile(path: path).tensor("w").toArray(), [1, 2, 3, 4])
    }

    func testMisalignedFloat32IsCopied() throws {
        // Header of 13 bytes puts the data at file offset 21: not 4-byte aligned, so the reader must copy.
        let header = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let padded = header + String(repeating: " ", count: (13 - header.utf8.count % 8 + 8) % 8)
        XCTAssertEqual((8 + padded.utf8.count) % 4, 1)
        var data: [UInt8] = []
        for v: Float in [1.5, -2] { withUnsafeBytes(of: v) { data.append(contentsOf: $0) } }
        let path = try makeTemporaryDirectory(self) + "/misaligned.safetensors"
        try Data(safetensorsBytes(header: padded, data: data)).write(to: URL(fileURLWithPath: path))
        let file = try SafetensorsFile(path: path)
        XCTAssertFalse(file.isZeroCopy(file.entry("x")!))
        XCTAssertEqual(try file.tensor("x").toArray(), [1.5, -2])
    }

    // MARK: Corrupt input: one case per failure the issue lists, built byte by byte.

    private func assertRejects(_ bytes: [UInt8], _ kind: SafetensorsError.Kind, mentioning fragments: [String] = [],
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let path = try makeTemporaryDirectory(self) + "/bad.safetensors"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try SafetensorsFile(path: path)
            XCTFail("accepted a corrupt file; expected \(kind)", file: file, line: line)
        } catch let error as SafetensorsError {
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix(path + ": "), "error must name the file: \(error)", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(error.description.contains(fragment), "\"\(error)\" lacks \"\(fragment)\"", file: file, line: line)
            }
        }
    }

    private let goodHeader = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#

    func testTruncatedFile() throws {
        try assertRejects([], .truncated, mentioning: ["0 bytes"])
        try assertRejects([1, 0, 0], .truncated, mentioning: ["shorter than the 8-byte header length"])
        // A valid file cut inside the data section.
        try assertRejects(safetensorsBytes(header: goodHeader, data: [0, 0, 0, 0, 0]), .truncated, mentioning: ["describes 8 bytes", "only 5", "truncated"])
    }

    func testHeaderLengthPastTheEnd() throws {
        try assertRejects(safetensorsBytes(header: goodHeader, data: [UInt8](repeating: 0, count: 8), declaredLength: 4096),
                          .headerLengthPastEnd, mentioning: ["4096", "past the end"])
        try assertRejects(safetensorsBytes(header: "{}", declaredLength: UInt64.max), .headerLengthPastEnd, mentioning: ["100 MB"])
    }

    func testBadJSON() throws {
        try assertRejects(safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]"#, data: [UInt8](repeating: 0, count: 8)),
                          .invalidJSON, mentioning: ["byte"])
        try assertRejects(safetensorsBytes(header: #"{"a":1,"a":2}"#), .invalidJSON, mentioning: ["duplicate key \"a\""])
        try assertRejects(safetensorsBytes(header: "{\"a\":\"\u{1}\"}"), .invalidJSON, mentioning: ["control character"])
        try assertRejects(safetensorsBytes(header: "{\"x\":" + String(repeating: "[", count: 10_000)), .invalidJSON, mentioning: ["nesting"])
        var invalidUTF8 = safetensorsBytes(header: "{\"ab\":1}")
        invalidUTF8[10] = 0xC3; invalidUTF8[11] = 0x28   // "ab" becomes a broken two-byte sequence
        try assertRejects(invalidUTF8, .invalidJSON, mentioning: ["UTF-8"])
    }

    func testNonObjectHeader() throws {
        try assertRejects(safetensorsBytes(header: "[1, 2]   "), .invalidHeader, mentioning: ["JSON object"])
        try assertRejects(safetensorsBytes(header: ""), .invalidHeader, mentioning: ["empty header"])
        try assertRejects(safetensorsBytes(header: #"{"a":[1,2]}"#), .invalidHeader, mentioning: ["tensor \"a\"", "found an array"])
        try assertRejects(safetensorsBytes(header: #"{"__metadata__":{"k":1}}"#), .invalidHeader, mentioning: ["__metadata__[\"k\"]"])
        try assertRejects(safetensorsBytes(header: #"{"a":{"dtype":"F32","data_offsets":[0,0]}}"#), .invalidHeader, mentioning: ["missing field \"shape\""])
        try assertRejects(safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#), .invalidHeader, mentioning: ["non-negative"])
    }

    func testUnknownDType() throws {
        try assertRejects(safetensorsBytes(header: #"{"a":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                          .unknownDType, mentioning: ["tensor \"a\"", "\"F17\"", "BF16"])
    }

    func testOffsetsOutOfRange() throws {
        // Reversed offsets.
        try assertRejects(safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#, data: [UInt8](repeating: 0, count: 8)),
                          .offsetsOutOfRange, mentioning: ["end before they begin"])
        // A gap at the start of the data section.
        try assertRejects(safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                          .offsetsOutOfRange, mentioning: ["start at 4", "no gaps"])
        // A tensor in the middle ending beyond the data although the last one fits the claimed layout.
        try assertRejects(safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}}"#,
                                           data: [UInt8](repeating: 0, count: 8)),
                          .offsetsOutOfRange, mentioning: ["tensor \"a\"", "end past the data section (8 bytes)"])
        // Trailing bytes that belong to no tensor.
        try assertRejects(safetensorsBytes(header: goodHeader, data: [UInt8](repeating: 0, count: 12)), .offsetsOutOfRange, mentioning: ["4 trailing bytes"])
    }

    func testOverlappingOffsets() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        try assertRejects(safetensorsBytes(header: header, data: [UInt8](repeating: 0, count: 12)), .overlappingOffsets,
                          mentioning: ["tensor \"b\"", "overlap tensor \"a\""])
    }

    func testShapeTimesDTypeSizeDiffersFromByteLength() throws {
        try assertRejects(safetensorsBytes(header: #"{"a":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                          .sizeMismatch, mentioning: ["shape [3] × BF16", "needs 6 bytes", "hold 8"])
        try assertRejects(safetensorsBytes(header: #"{"a":{"dtype":"F64","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                          .sizeMismatch, mentioning: ["too large"])
    }

    func testMissingTensorAndUnreadableFile() throws {
        let file = try SafetensorsFile(path: fixtureURL("safetensors/python_dtypes.safetensors").path)
        XCTAssertThrowsError(try file.tensor("nope")) { XCTAssertEqual(($0 as? SafetensorsError)?.kind, .missingTensor) }
        XCTAssertThrowsError(try SafetensorsFile(path: "/nonexistent/x.safetensors")) {
            XCTAssertEqual(($0 as? SafetensorsError)?.kind, .io)
            XCTAssertTrue("\($0)".contains("/nonexistent/x.safetensors: cannot open"))
        }
        XCTAssertThrowsError(try SafetensorsFile(path: NSTemporaryDirectory())) { XCTAssertEqual(($0 as? SafetensorsError)?.kind, .io) }
    }
}
