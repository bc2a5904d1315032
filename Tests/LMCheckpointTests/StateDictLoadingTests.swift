// Strict and non-strict loading into existing tensors: the report's missing/unexpected/wrong-shape keys, the hints,
// in-place copies (strided and float64 destinations), and that a failed strict load changes nothing.
import XCTest
@testable import LMCheckpoint
import LMTensor
import _TestSupport

final class StateDictLoadingTests: XCTestCase {
    private func checkpoint(_ tensors: [String: Tensor]) throws -> SafetensorsFile {
        let path = try makeTemporaryDirectory(self) + "/ckpt.safetensors"
        try saveSafetensors(tensors, to: path, dtype: .float32)
        return try SafetensorsFile(path: path)
    }

    func testStrictLoadCopiesEverythingInPlace() throws {
        let file = try checkpoint(["fc.weight": Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), "fc.bias": Tensor([7, 8], shape: [2])])
        let weight = Tensor(zeros: [2, 3]), bias = Tensor(zeros: [2], dtype: .float64)
        let report = try loadStateDict(["fc.weight": weight, "fc.bias": bias], from: file)
        XCTAssertTrue(report.isExact)
        XCTAssertEqual(report.loaded, ["fc.bias", "fc.weight"])
        XCTAssertEqual(weight.toArray(), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(bias.toDoubles(), [7, 8])
    }

    func testStridedDestinationIsFilledThroughItsStrides() throws {
        let file = try checkpoint(["w": Tensor([1, 2, 3, 4, 5, 6], shape: [3, 2])])
        let base = Tensor(zeros: [2, 3])
        let view = base.transpose(0, 1)   // shape [3, 2], not contiguous
        try loadStateDict(["w": view], from: file)
        XCTAssertEqual(view.toArray(), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(base.toArray(), [1, 3, 5, 2, 4, 6])
    }

    func testStrictFailureNamesEveryProblemAndCopiesNothing() throws {
        let file = try checkpoint(["a": Tensor([1, 2], shape: [2]), "b": Tensor(zeros: [3, 4]), "extra": Tensor(zeros: [1])])
        let a = Tensor(zeros: [2]), b = Tensor(zeros: [4, 3]), c = Tensor(zeros: [5])
        XCTAssertThrowsError(try loadStateDict(["a": a, "b": b, "c": c], from: file)) { error in
            let report = (error as! StateDictLoadError).report
            XCTAssertEqual(report.missing, ["c"])
            XCTAssertEqual(report.unexpected, ["extra"])
            XCTAssertEqual(report.shapeMismatches, [.init(key: "b", expected: [4, 3], found: [3, 4])])
            XCTAssertTrue(report.loaded.isEmpty)
            let text = "\(error)"
            for fragment in ["missing from the file (1): \"c\"", "unexpected in the file (1): \"extra\"", "wrong shape: \"b\" expected [4, 3], file has [3, 4]",
                             "look transposed", file.path] {
                XCTAssertTrue(text.contains(fragment), "report lacks \"\(fragment)\":\n\(text)")
            }
        }
        XCTAssertEqual(a.toArray(), [0, 0], "a failed strict load must not copy anything")
    }

    func testNonStrictLoadsWhatMatches() throws {
        let file = try checkpoint(["a": Tensor([1, 2], shape: [2]), "b": Tensor(zeros: [3])])
        let a = Tensor(zeros: [2]), b = Tensor([9, 9], shape: [2]), c = Tensor(zeros: [1])
        let report = try loadStateDict(["a": a, "b": b, "c": c], from: file, strict: false)
        XCTAssertEqual(report.loaded, ["a"])
        XCTAssertEqual(report.missing, ["c"])
        XCTAssertEqual(report.shapeMismatches.map(\.key), ["b"])
        XCTAssertEqual(a.toArray(), [1, 2])
        XCTAssertEqual(b.toArray(), [9, 9])
        XCTAssertTrue(report.hints.contains { $0.contains("model configuration") }, "\(report.hints)")
    }

    func testHintsForAPrefixAndANearMissName() throws {
        let prefixed = try checkpoint(["model.fc.weight": Tensor(zeros: [1]), "model.fc.bias": Tensor(zeros: [1])])
        let report = try loadStateDict(["fc.weight": Tensor(zeros: [1]), "fc.bias": Tensor(zeros: [1])], from: prefixed, strict: false)
        XCTAssertTrue(report.hints.contains { $0.contains("prefix \"model.\"") && $0.contains("strip") }, "\(report.hints)")

        let sub = try checkpoint(["fc.weight": Tensor(zeros: [1])])
        let subReport = try loadStateDict(["encoder.fc.weight": Tensor(zeros: [1])], from: sub, strict: false)
        XCTAssertTrue(subReport.hints.contains { $0.contains("prefix \"encoder.\"") && $0.contains("sub-module") }, "\(subReport.hints)")

        let renamed = try checkpoint(["ln.gamma": Tensor(zeros: [1])])
        let renamedReport = try loadStateDict(["ln.gamm": Tensor(zeros: [1])], from: renamed, strict: false)
        XCTAssertTrue(renamedReport.hints.contains { $0.contains("\"ln.gamm\" is missing but the file has \"ln.gamma\"") }, "\(renamedReport.hints)")

        let unrelated = try checkpoint(["x": Tensor(zeros: [1])])
        let unrelatedReport = try loadStateDict(["completely.different": Tensor(zeros: [1])], from: unrelated, strict: false)
        XCTAssertTrue(unrelatedReport.hints.contains { $0.contains("no key of the file matches") }, "\(unrelatedReport.hints)")
    }

    func testFileWithIntegerEntriesLoadsIntoFloatTensors() throws {
        let python = try SafetensorsFile(path: fixtureURL("safetensors/python_dtypes.safetensors").path)
        let ids = Tensor(zeros: [2, 2])
        let report = try loadStateDict(["ids.i32": ids], from: python, strict: false)
        XCTAssertEqual(report.loaded, ["ids.i32"])
        XCTAssertEqual(ids.toArray(), [7, -2147483648, 2147483648, 0])   // 2^31 - 1 rounds to 2^31 in float32
    }
}
