// float16/bfloat16 tensors in safetensors: written as F16/BF16 bit for bit, read back as half tensors (or as float32),
// and F32 entries read as half tensors round to nearest even.
import Foundation
import XCTest
import LMTensor
@testable import LMCheckpoint

final class HalfPrecisionSafetensorsTests: XCTestCase {
    func testHalfTensorsRoundTripBitForBit() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("half-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let values: [Float] = [1, -2.5, 3.14159, 65504, 1e-7, -0.0, 0.1, 300]
        let x = Tensor(values, shape: [2, 4])
        let bf = x.to(.bfloat16), f16 = x.to(.float16)
        var writer = SafetensorsWriter(metadata: nil)
        try writer.add("bf", bf, as: .bfloat16)
        try writer.add("f16", f16, as: .float16)
        try writer.add("bf_as_f32", bf, as: .float32)
        try writer.add("f32", x, as: .float32)
        try writer.write(to: path)

        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.entry("bf")?.dtype, .bfloat16)
        XCTAssertEqual(file.entry("f16")?.dtype, .float16)
        func bits(_ t: Tensor) -> [UInt16] { Array(UnsafeBufferPointer(start: t.halfBits(), count: t.count)) }
        XCTAssertEqual(bits(try file.tensor("bf", as: .bfloat16)), bits(bf))
        XCTAssertEqual(bits(try file.tensor("f16", as: .float16)), bits(f16))
        XCTAssertEqual(try file.tensor("bf").toArray(), bf.toArray())
        XCTAssertEqual(try file.tensor("bf_as_f32").toArray(), bf.toArray())
        // F32 entries read as half round like Tensor.to; loading into a half destination does the same.
        XCTAssertEqual(bits(try file.tensor("f32", as: .bfloat16)), bits(bf))
        XCTAssertEqual(bits(try file.tensor("f16", as: .bfloat16)), bits(f16.to(.bfloat16)))
        let destination = Tensor(zeros: [2, 4], dtype: .float16)
        try loadStateDict(["f32": destination], from: file, strict: false)
        XCTAssertEqual(bits(destination), bits(f16))
    }
}
