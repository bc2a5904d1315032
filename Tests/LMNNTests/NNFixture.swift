// Decoding of Tests/Fixtures/nn/nn.json (Scripts/fixtures/nn_fixture.py, torch.nn float32) shared by the layer tests.
import XCTest
import LMTensor
import _TestSupport

struct FixtureTensor: Decodable {
    let shape: [Int]
    let values: [Float]
    var tensor: Tensor { Tensor(values, shape: shape) }
}

struct NNFixture: Decodable {
    struct LinearCase: Decodable { let x: FixtureTensor; let weight: FixtureTensor; let bias: FixtureTensor?; let y: FixtureTensor }
    struct LayerNormCase: Decodable { let x: FixtureTensor; let weight: FixtureTensor; let bias: FixtureTensor; let eps: Double; let y: FixtureTensor }
    struct RMSNormCase: Decodable { let x: FixtureTensor; let weight: FixtureTensor; let y_default_eps: FixtureTensor; let y_eps_1e6: FixtureTensor }
    struct EmbeddingCase: Decodable { let weight: FixtureTensor; let ids: [Int]; let ids_shape: [Int]; let y: FixtureTensor }
    struct ActivationCase: Decodable {
        let x: [Float]
        let gelu_tanh: [Float], gelu_erf: [Float], relu: [Float], silu: [Float], tanh: [Float], sigmoid: [Float]
    }
    struct MLPCase: Decodable {
        let x: FixtureTensor, r: FixtureTensor, y: FixtureTensor
        let weights: [String: FixtureTensor]
        let grads: [String: FixtureTensor]
        let x_grad: FixtureTensor
        let state_dict_keys: [String]
        let parameter_count: Int
    }
    struct TrainingCase: Decodable {
        let initial: [String: FixtureTensor]
        let x: FixtureTensor
        let targets: [Int]
        let losses: [Float]
        let grad_norms: [Double]
        let final: [String: FixtureTensor]
    }
    struct ModelNames: Decodable { let state_dict_keys: [String]; let shapes: [String: [Int]]; let parameter_count: Int }

    let linear: LinearCase
    let linear_no_bias: LinearCase
    let layer_norm: LayerNormCase
    let rms_norm: RMSNormCase
    let embedding: EmbeddingCase
    let activations: ActivationCase
    let mlp: MLPCase
    let mlp_adamw_10_steps: TrainingCase
    let tiny_gpt: ModelNames

    static func load() throws -> NNFixture { try loadFixture("nn/nn.json", as: NNFixture.self) }
}

/// Asserts |a − b| ≤ atol + rtol·|b| elementwise, naming the first failing index.
func assertClose(_ a: [Float], _ b: [Float], rtol: Float = 1e-5, atol: Float = 1e-6, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(what): \(a.count) values, expected \(b.count)", file: file, line: line)
    for (i, (x, y)) in zip(a, b).enumerated() where !(Swift.abs(x - y) <= atol + rtol * Swift.abs(y)) {
        XCTFail("\(what): element \(i) is \(x), expected \(y)", file: file, line: line)
        return
    }
}
