// A real LMNN module through safetensors: save its state dict, strict-load it into a freshly initialised module,
// and get identical outputs; a module of another shape gets a report naming the mismatched keys.
import Foundation
import LMCheckpoint
import LMNN
import LMTensor
import XCTest

final class ModuleRoundTripTests: XCTestCase {
    func testModuleStateDictRoundTripsThroughSafetensors() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lmkit-module-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let trained = MLP(inputSize: 4, hiddenSizes: [8], outputSize: 3, generator: Generator(seed: 1))
        try saveSafetensors(trained.stateDict(), to: path, metadata: ["format": "pt"])

        let fresh = MLP(inputSize: 4, hiddenSizes: [8], outputSize: 3, generator: Generator(seed: 2))
        let x = Tensor.randn([5, 4], generator: Generator(seed: 3))
        XCTAssertNotEqual(fresh(x).toArray(), trained(x).toArray())
        let report = try loadStateDict(fresh.stateDict(), fromFile: path, strict: true)
        XCTAssertTrue(report.isExact, report.description)
        XCTAssertEqual(report.loaded, ["layers.0.bias", "layers.0.weight", "layers.1.bias", "layers.1.weight"])
        XCTAssertEqual(fresh(x).toArray(), trained(x).toArray())

        let wider = MLP(inputSize: 4, hiddenSizes: [16], outputSize: 3, generator: Generator(seed: 4))
        let before = wider.stateDict()["layers.0.weight"]!.toArray()
        XCTAssertThrowsError(try loadStateDict(wider.stateDict(), fromFile: path, strict: true)) { error in
            let report = (error as! StateDictLoadError).report
            XCTAssertEqual(report.shapeMismatches.map(\.key), ["layers.0.bias", "layers.0.weight", "layers.1.weight"])
        }
        XCTAssertEqual(wider.stateDict()["layers.0.weight"]!.toArray(), before, "a failed strict load copies nothing")
    }
}
