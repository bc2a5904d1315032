// Seeded mutation fuzzing of the safetensors reader (issue 12): a mutated file must be refused with an error, or
// open and yield every tensor (all dtypes decoded to float32), without a crash. LMKIT_FUZZ_ITERATIONS=N for longer.
import XCTest
import _TestSupport
@testable import LMCheckpoint

final class SafetensorsFuzzTests: XCTestCase {
    func testFuzzSafetensors() throws {
        for (index, fixture) in ["python_dtypes.safetensors", "writer_f32.safetensors", "writer_bf16.safetensors"].enumerated() {
            let bytes = [UInt8](try Data(contentsOf: fixtureURL("safetensors/" + fixture)))
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("st-fuzz-\(getpid())-\(fixture)").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let outcome = try Fuzzer.run(bytes, seed: 31 + UInt64(index), iterations: Fuzzer.iterations(default: 60), writingTo: path) { _ in
                let file = try SafetensorsFile(path: path)
                for name in file.names {
                    guard let entry = file.entry(name) else { continue }
                    let tensor = try file.tensor(name)
                    XCTAssertEqual(tensor.count, entry.elementCount)
                    _ = tensor.toArray().reduce(0, +)
                }
            }
            XCTAssertGreaterThan(outcome.rejected, 0, fixture)
            XCTAssertGreaterThan(outcome.accepted, 0, fixture)
        }
    }
}
