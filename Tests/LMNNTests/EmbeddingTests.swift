// Embedding lookup vs torch.nn.Embedding and its scatter-add gradient for repeated ids.
import XCTest
import LMTensor
@testable import LMNN

final class EmbeddingTests: XCTestCase {
    func testLookupMatchesTorch() throws {
        let c = try NNFixture.load().embedding
        let emb = Embedding(weight: c.weight.tensor)
        let y = emb(c.ids, shape: c.ids_shape)
        XCTAssertEqual(y.shape, c.y.shape)
        XCTAssertEqual(y.toArray(), c.y.values)
    }

    func testRepeatedIdsAccumulateGradient() {
        let emb = Embedding(5, 2, generator: Generator(seed: 0))
        emb([3, 1, 3]).sum().backward()
        XCTAssertEqual(emb.weight.grad!.toArray(), [0, 0, 1, 1, 0, 0, 2, 2, 0, 0])
    }
}

final class EmbeddingPaddingTests: XCTestCase {
    /// torch padding_idx: the row starts at zero, is returned as stored, and receives no gradient.
    func testPaddingRowGetsNoGradient() {
        let emb = Embedding(5, 2, paddingIndex: -1, generator: Generator(seed: 0))
        XCTAssertEqual(emb.paddingIndex, 4)
        XCTAssertEqual(Array(emb.weight.toArray()[8..<10]), [0, 0])
        let table = Tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], shape: [5, 2])
        let loaded = Embedding(weight: table, paddingIndex: 4)
        let y = loaded([4, 1, 4], shape: [3])
        XCTAssertEqual(y.toArray(), [8, 9, 2, 3, 8, 9])
        (y * Tensor([1, 2, 3, 4, 5, 6], shape: [3, 2])).sum().backward()
        XCTAssertEqual(loaded.weight.grad!.toArray(), [0, 0, 3, 4, 0, 0, 0, 0, 0, 0])
    }
}
