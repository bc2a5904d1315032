// Rotary position embedding (RoPE, Su et al. 2021) as one op: each pair of a head's dimensions is rotated by the angle
// of its position and frequency. Two pairings exist in the wild and both are supported: `halfSplit` pairs (i, i + D/2)
// (Hugging Face Llama's `rotate_half`, GPT-NeoX), `interleaved` pairs (2i, 2i+1) (Meta's original Llama, GPT-J).
// Backward is the inverse rotation, so no activations are saved beyond cos/sin.

import Foundation

/// Which dimensions of a head RoPE rotates together.
public enum RotaryLayout: String, Sendable, Codable {
    case halfSplit = "half_split", interleaved

    /// Index of the two elements of pair `i` in a head of size `headSize`.
    @inlinable func pair(_ i: Int, headSize: Int) -> (Int, Int) {
        self == .halfSplit ? (i, i + headSize / 2) : (2 * i, 2 * i + 1)
    }
}

extension Tensor {
    /// cos and sin tables [positions.count, headSize/2] for RoPE with base `theta`: angle(p, i) = p · θ^(−2i/headSize),
    /// computed as Hugging Face does (inverse frequencies in float32, then position × frequency in float32).
    public static func rotaryTables(positions: Range<Int>, headSize: Int, theta: Double, dtype: DType = .float32) -> (cos: Tensor, sin: Tensor) {
        precondition(headSize > 0 && headSize % 2 == 0, "rotaryTables: head size must be even, got \(headSize)")
        let half = headSize / 2
        var cosValues = [Double](), sinValues = [Double]()
        cosValues.reserveCapacity(positions.count * half); sinValues.reserveCapacity(positions.count * half)
        for p in positions {
            for i in 0..<half {
                let angle: Double
                if dtype == .float32 {
                    let inverseFrequency = 1 / Float(Foundation.pow(theta, Double(2 * i) / Double(headSize)))
                    angle = Double(Float(p) * inverseFrequency)
                } else {
                    angle = Double(p) / Foundation.pow(theta, Double(2 * i) / Double(headSize))
                }
                cosValues.append(Foundation.cos(angle)); sinValues.append(Foundation.sin(angle))
            }
        }
        let shape = [positions.count, half]
        if dtype == .float32 {
            return (Tensor(cosValues.map { Float($0) }, shape: shape), Tensor(sinValues.map { Float($0) }, shape: shape))
        }
        return (Tensor(doubles: cosValues, shape: shape), Tensor(doubles: sinValues, shape: shape))
    }

    /// Rotates x [B, T, H, D] (position t uses row t of `cos`/`sin`, each [T, D/2]). cos and sin take no gradient.
    public func rotaryEmbedding(cos: Tensor, sin: Tensor, layout: RotaryLayout) -> Tensor {
        precondition(rank == 4 && shape[3] % 2 == 0 && cos.shape == [shape[1], shape[3] / 2] && sin.shape == cos.shape &&
                     cos.dtype == dtype && sin.dtype == dtype,
                     "rotary_embedding: x \(shape) must be [B, T, H, D] with even D and cos/sin [T, D/2], got cos \(cos.shape), sin \(sin.shape)")
        let x = contiguous(), c = cos.contiguous(), s = sin.contiguous()
        let (B, T, H, D) = (shape[0], shape[1], shape[2], shape[3])
        // direction +1 rotates forward; -1 applies the transpose (inverse rotation), which is the backward.
        func rotate<Scalar: KernelScalar>(_: Scalar.Type, _ input: Tensor, direction: Scalar) -> Tensor {
            let out = Tensor(uninitialized: input.shape, dtype: input.dtype)
            let src = input.pointer(Scalar.self), dst = out.pointer(Scalar.self)
            let cp = c.pointer(Scalar.self), sp = s.pointer(Scalar.self)
            for b in 0..<B {
                for t in 0..<T {
                    let cr = cp + t * D / 2, sr = sp + t * D / 2
                    for h in 0..<H {
                        let base = ((b * T + t) * H + h) * D
                        for i in 0..<(D / 2) {
                            let (i1, i2) = layout.pair(i, headSize: D)
                            let x1 = src[base + i1], x2 = src[base + i2], sn = direction * sr[i]
                            dst[base + i1] = x1 * cr[i] - x2 * sn
                            dst[base + i2] = x2 * cr[i] + x1 * sn
                        }
                    }
                }
            }
            return out
        }
        func apply(_ input: Tensor, direction: Double) -> Tensor {
            switch input.dtype {
            case .float32: return rotate(Float.self, input, direction: Float(direction))
            case .float64: return rotate(Double.self, input, direction: direction)
            default: unsupportedDType()
            }
        }
        return Tensor.record("rotary_embedding", inputs: [x], output: apply(x, direction: 1)) { g in [apply(g.contiguous(), direction: -1)] }
    }
}
