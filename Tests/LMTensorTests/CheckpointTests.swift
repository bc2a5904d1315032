// Gradient checkpointing: a checkpointed function gives bitwise the gradients of the plain graph, dropout included
// (its stream is rewound for the replay and left where forward left it), and keeps none of its inner activations.
import LMTensor
import XCTest

final class CheckpointTests: XCTestCase {
    func testGradientsAndRandomStreamEqualThePlainGraphBitwise() {
        let g = Generator(seed: 1)
        let x0 = Tensor.randn([6, 5], generator: g), w0 = Tensor.randn([4, 5], generator: g), seed = Tensor.randn([6, 4], generator: g)
        func run(_ checkpointed: Bool) -> (grads: [[Float]], offset: UInt64) {
            let x = x0.clone().requiringGrad(), w = w0.clone().requiringGrad()
            let dropout = Generator(seed: 7)
            let body: ([Tensor]) -> Tensor = { $0[0].linear(w, bias: nil).gelu().dropout(0.3, training: true, generator: dropout) * 2 }
            let y = checkpointed ? Tensor.checkpoint([x], generators: [dropout], body) : body([x])
            (y * seed).sum().backward()
            return ([x.grad!.toArray(), w.grad!.toArray()], dropout.offset)
        }
        let plain = run(false), checkpointed = run(true)
        XCTAssertEqual(checkpointed.grads, plain.grads)
        XCTAssertEqual(checkpointed.offset, plain.offset, "the dropout stream ends where one forward pass leaves it")
    }

    func testForwardKeepsNoGraphInside() {
        let x = Tensor.randn([3, 3], generator: Generator(seed: 2)).requiringGrad()
        var inner: Tensor?
        let y = Tensor.checkpoint([x]) { xs in let h = xs[0].tanh(); inner = h; return h * 3 }
        XCTAssertNil(inner?.gradNode, "the forward pass records nothing inside the checkpoint")
        XCTAssertEqual(y.gradNode?.name, "checkpoint")
        noGrad { XCTAssertNil(Tensor.checkpoint([x]) { $0[0] * 2 }.gradNode) }
    }
}
