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
