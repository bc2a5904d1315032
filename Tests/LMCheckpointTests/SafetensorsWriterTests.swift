// Writing safetensors: byte-identical to Python `safetensors` for F32/F16/BF16 (committed fixtures), round trips,
// atomic replacement when a write dies part-way, and clear errors for requests the format cannot hold.
import Foundation
import XCTest
@testable import LMCheckpoint
import LMTensor
import _TestSupport

private struct WriterSource: Decodable {
    struct Entry: Decodable {
        let shape: [Int]
        let float32_bits: [UInt32]
    }
    let metadata: [String: String]
    let tensors: [String: Entry]
}

final class SafetensorsWriterTests: XCTestCase {
    private func sourceTensors() throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let source = try loadFixture("safetensors/writer_source.json", as: WriterSource.self)
        var tensors: [String: Tensor] = [:]
        for (name, entry) in source.tensors { tensors[name] = Tensor(entry.float32_bits.map { Float(bitPattern: $0) }, shape: entry.shape) }
        return (tensors, source.metadata)
    }

    func testBytesMatchThePythonWriter() throws {
        let (tensors, metadata) = try sourceTensors()
        let directory = try makeTemporaryDirectory(self)
        for (tag, dtype) in [("f32", SafetensorsDType.float32), ("f16", .float16), ("bf16", .bfloat16)] {
            let path = "\(directory)/\(tag).safetensors"
            try saveSafetensors(tensors, to: path, metadata: metadata, dtype: dtype)
            let ours = try Data(contentsOf: URL(fileURLWithPath: path))
            let python = try Data(contentsOf: fixtureURL("safetensors/writer_\(tag).safetensors"))
            XCTAssertEqual(ours, python, "\(tag): LMKit's file differs from Python safetensors' (\(ours.count) vs \(python.count) bytes)")
        }
    }

    func testRoundTripKeepsValuesShapesAndMetadata() throws {
        let path = try makeTemporaryDirectory(self) + "/rt.safetensors"
        let g = Generator(seed: 7)
        let a = Tensor.randn([3, 4], generator: g)
        let transposed = Tensor.randn([4, 5], generator: g).transpose(0, 1)   // non-contiguous source
        let double = Tensor(doubles: [1.0 / 3, 2e-40], shape: [2])
        try saveSafetensors(["a": a, "t": transposed, "d": double, "s": Tensor(scalar: 3), "e": Tensor(zeros: [0, 2])],
                            to: path, metadata: ["k": "v\n\"/é"])
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.metadata, ["k": "v\n\"/é"])
        XCTAssertEqual(file.headerByteCount % 8, 0)
        XCTAssertEqual(try file.tensor("a").toArray(), a.toArray())
        XCTAssertEqual(try file.tensor("t").shape, [5, 4])
        XCTAssertEqual(try file.tensor("t").toArray(), transposed.toArray())
        XCTAssertEqual(try file.tensor("d").toArray(), [Float(1.0 / 3), Float(2e-40)])
        XCTAssertEqual(try file.tensor("s").shape, [])
        XCTAssertEqual(try file.tensor("s").toArray(), [3])
        XCTAssertEqual(try file.tensor("e").shape, [0, 2])
        for entry in file.entries where entry.dtype == .float32 && entry.elementCount > 0 { XCTAssertTrue(file.isZeroCopy(entry)) }
    }

    func testFloat64OutputAndStoredEntriesPassThrough() throws {
        let directory = try makeTemporaryDirectory(self)
        let python = try SafetensorsFile(path: fixtureURL("safetensors/python_dtypes.safetensors").path)
        var writer = SafetensorsWriter(metadata: nil)
        try writer.add("d", Tensor(doubles: [1.0 / 3], shape: [1]), as: .float64)
        try writer.addStored(python.entry("ids.i64")!, from: python)
        try writer.addStored(python.entry("half")!, from: python, as: "renamed.half")
        try writer.write(to: directory + "/mixed.safetensors")
        let file = try SafetensorsFile(path: directory + "/mixed.safetensors")
        XCTAssertFalse(file.hasMetadata)
        XCTAssertEqual(try file.tensor("d", as: .float64).toDoubles(), [1.0 / 3])
        XCTAssertEqual(file.entry("ids.i64")?.dtype, .int64)
        XCTAssertEqual(try file.tensor("ids.i64", as: .float64).toDoubles(), try python.tensor("ids.i64", as: .float64).toDoubles())
        XCTAssertEqual(file.entry("renamed.half")?.dtype, .float16)
        XCTAssertEqual(file.entries.map(\.name), ["d", "ids.i64", "renamed.half"])
    }

    func testEmptyMetadataIsWrittenAsAnEmptyObject() throws {
        let writer = SafetensorsWriter(metadata: [:])
        let header = writer.headerBytes()
        XCTAssertEqual(String(decoding: header[8...], as: UTF8.self), #"{"__metadata__":{}}     "#)
    }

    func testInterruptedWriteLeavesTheOldFileAndNoTemporaryFile() throws {
        let directory = try makeTemporaryDirectory(self)
        let path = directory + "/model.safetensors"
        try saveSafetensors(["old": Tensor([1, 2], shape: [2])], to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        var writer = SafetensorsWriter()
        try writer.add("new", Tensor(zeros: [1000]))
        for failAfter in [0, 5, 100, 2000] {
            XCTAssertThrowsError(try writer.write(to: path, failAfterBytes: failAfter)) {
                XCTAssertEqual(($0 as? SafetensorsError)?.kind, .io)
            }
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before, "failed write at \(failAfter) bytes changed the file")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["model.safetensors"])
        }
        // A write into a fresh path that dies leaves nothing at all.
        XCTAssertThrowsError(try writer.write(to: directory + "/fresh.safetensors", failAfterBytes: 10))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["model.safetensors"])
        // And the completed write replaces the file.
        try writer.write(to: path)
        XCTAssertEqual(try SafetensorsFile(path: path).names, ["new"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["model.safetensors"])
    }

    func testRejectsWhatTheFormatCannotHold() throws {
        var writer = SafetensorsWriter()
        XCTAssertThrowsError(try writer.add("__metadata__", Tensor(zeros: [1]))) { XCTAssertEqual(($0 as? SafetensorsError)?.kind, .invalidArgument) }
        XCTAssertThrowsError(try writer.add("x", Tensor(zeros: [1]), as: .int64)) { XCTAssertTrue("\($0)".contains("cannot store a float tensor as I64")) }
        try writer.add("x", Tensor(zeros: [1]))
        XCTAssertThrowsError(try writer.add("x", Tensor(zeros: [1]))) { XCTAssertTrue("\($0)".contains("added twice")) }
        XCTAssertThrowsError(try writer.write(to: "/nonexistent-dir/x.safetensors")) {
            XCTAssertEqual(($0 as? SafetensorsError)?.kind, .io)
            XCTAssertTrue("\($0)".contains("/nonexistent-dir"))
        }
    }
}
