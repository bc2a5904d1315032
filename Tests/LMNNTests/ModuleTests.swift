// The reflective parameter walk: a nanoGPT-shaped model must produce exactly torch's state-dict keys, shapes and
// parameter count (fixture from Scripts/fixtures/nn_fixture.py); buffers, tied weights, optionals, dictionaries,
// train/eval propagation and zeroGrad.
import XCTest
import LMTensor
@testable import LMNN

/// Mirrors the torch TinyGPT in nn_fixture.py. Property names are the checkpoint keys, hence `ln1`, `ln_f`.
final class TinyAttention: Module {
    let qkv: Linear, proj: Linear
    @Buffer(persistent: false) var mask: Tensor = Tensor.trilMask(4, 4)
    init(_ c: Int, _ g: Generator) { qkv = Linear(c, 3 * c, generator: g); proj = Linear(c, c, generator: g) }
}
final class TinyBlock: Module {
    let ln1: LayerNorm, attn: TinyAttention, ln2: LayerNorm, mlp: Sequential
    init(_ c: Int, _ g: Generator) {
        ln1 = LayerNorm(c); attn = TinyAttention(c, g); ln2 = LayerNorm(c)
        mlp = Sequential(Linear(c, 4 * c, generator: g), Activation.gelu(.tanh), Linear(4 * c, c, generator: g))
    }
}
final class TinyGPT: Module {
    let wte: Embedding
    let blocks: [TinyBlock]
    let ln_f: LayerNorm
    let head: Linear
    init(vocabularySize: Int = 11, c: Int = 8, layers: Int = 2, generator g: Generator = Generator(seed: 0)) {
        wte = Embedding(vocabularySize, c, generator: g)
        blocks = (0..<layers).map { _ in TinyBlock(c, g) }
        ln_f = LayerNorm(c)
        head = Linear(c, vocabularySize, bias: false, generator: g)
    }
}

final class ModuleTests: XCTestCase {
    func testStateDictKeysShapesAndCountMatchTorch() throws {
        let expected = try NNFixture.load().tiny_gpt
        let model = TinyGPT()
        XCTAssertEqual(model.stateDictKeys(), expected.state_dict_keys)
        let state = model.stateDict()
        for (key, shape) in expected.shapes { XCTAssertEqual(state[key]?.shape, shape, key) }
        XCTAssertEqual(model.parameterCount, expected.parameter_count)
        XCTAssertEqual(model.namedParameters().count, expected.state_dict_keys.count)
    }

    func testBuffersAreNotParameters() {
        final class WithBuffers: Module {
            let weight = Tensor.ones([3]).requiringGrad()
            @Buffer var runningMean: Tensor = Tensor.zeros([3])
            @Buffer(persistent: false) var causalMask: Tensor = Tensor.trilMask(2, 2)
        }
        let m = WithBuffers()
        XCTAssertEqual(m.namedParameters().map(\.name), ["weight"])
        XCTAssertEqual(m.namedBuffers().map(\.name), ["runningMean", "causalMask"])
        XCTAssertEqual(m.stateDictKeys(), ["weight", "runningMean"])
        XCTAssertEqual(Set(m.stateDict().keys), ["weight", "runningMean"])
        XCTAssertEqual(m.parameterCount, 3)
    }

    func testTiedWeightsOptionalsAndDictionaries() {
        final class Tied: Module {
            let embed: Embedding
            let head: Linear
            let extra: Linear?
            let missing: Linear? = nil
            let heads: [String: Linear]
            override init() {
                let g = Generator(seed: 1)
                embed = Embedding(6, 4, generator: g)
                head = Linear(weight: embed.weight, bias: nil) // GPT-2 weight tying
                extra = Linear(4, 1, generator: g)
                heads = ["z": Linear(4, 2, generator: g), "a": Linear(4, 3, bias: false, generator: g)]
            }
        }
        let m = Tied()
        XCTAssertEqual(m.namedParameters().map(\.name),
                       ["embed.weight", "extra.weight", "extra.bias", "heads.a.weight", "heads.z.weight", "heads.z.bias"])
        XCTAssertEqual(m.stateDictKeys(),
                       ["embed.weight", "head.weight", "extra.weight", "extra.bias", "heads.a.weight", "heads.z.weight", "heads.z.bias"])
        XCTAssertTrue(m.stateDict()["head.weight"] === m.stateDict()["embed.weight"])
        XCTAssertEqual(m.parameterCount, 24 + 4 + 1 + 12 + 8 + 2)
    }

    func testTrainEvalPropagatesAndZeroGrad() {
        let model = TinyGPT()
        XCTAssertTrue(model.isTraining)
        model.eval()
        XCTAssertFalse(model.isTraining)
        XCTAssertTrue(model.namedModules().allSatisfy { !$0.module.isTraining })
        XCTAssertTrue(model.namedModules().contains { $0.name == "blocks.1.mlp.1" })
        model.train()
        XCTAssertTrue(model.namedModules().allSatisfy { $0.module.isTraining })

        let logits = model.head(model.ln_f(model.wte([1, 2, 3])))
        logits.crossEntropy(targets: [2, 3, 4]).backward()
        XCTAssertNotNil(model.head.weight.grad)
        model.zeroGrad()
        XCTAssertTrue(model.parameters().allSatisfy { $0.grad == nil })
    }
}

final class ModuleWalkTests: XCTestCase {
    /// A child pointing back at its parent must not make the walk loop; a shared child appears under both names.
    func testCyclesTerminateAndSharedModulesAppearTwice() {
        final class Child: Module {
            let fc = Linear(2, 2, generator: Generator(seed: 0))
            weak var parent: Module?
        }
        final class Parent: Module {
            let left = Child()
            lazy var right: Child = left
            override init() { super.init(); left.parent = self; _ = right }
        }
        let m = Parent()
        XCTAssertEqual(m.stateDictKeys(), ["left.fc.weight", "left.fc.bias", "right.fc.weight", "right.fc.bias"])
        XCTAssertEqual(m.namedParameters().map(\.name), ["left.fc.weight", "left.fc.bias"])
        XCTAssertEqual(m.parameterCount, 6)
    }

    func testApplyVisitsEveryModule() {
        let model = TinyGPT()
        var linears = 0
        model.apply { module in
            if let linear = module as? Linear { linears += 1; Init.normal(linear.weight, std: 0.02, generator: Generator(seed: 1)) }
        }
        XCTAssertEqual(linears, 2 * 4 + 1) // qkv, proj, two MLP layers per block; the head
        XCTAssertLessThan(model.head.weight.toArray().map { Swift.abs($0) }.max()!, 0.2)
    }
}

/// A module that hides a member by overriding `children`: the mistake `keys` replaced, kept here to prove the check sees it.
final class HidingModule: Module {
    let kept = Linear(weight: Tensor.zeros([2, 2]), bias: nil)
    let hidden = Linear(weight: Tensor.zeros([2, 2]), bias: Tensor.zeros([2]))
    override var children: [(name: String, value: Any)] { [("kept", kept)] }
}

/// Renames through `keys`.
final class RenamingModule: Module {
    let finalNorm = LayerNorm(4)
    let projection = Linear(weight: Tensor.zeros([4, 4]), bias: nil)
    override class var keys: [String: String] { ["finalNorm": "ln_f"] }
}

extension ModuleTests {
    func testKeysRenameWithoutListingMembers() {
        XCTAssertEqual(RenamingModule().stateDictKeys(), ["ln_f.weight", "ln_f.bias", "projection.weight"])
        XCTAssertEqual(RenamingModule().unreachableTensors(), [])
    }

    func testUnreachableTensorsFindsAHiddenParameter() {
        XCTAssertEqual(HidingModule().namedParameters().map(\.name), ["kept.weight"])
        XCTAssertEqual(HidingModule().unreachableTensors(), ["self.hidden.weight", "self.hidden.bias"])
        XCTAssertEqual(TinyGPT().unreachableTensors(), [])
    }
}
