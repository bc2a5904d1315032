// Multi-layer RNN (tanh/relu), LSTM (with proj_size) and GRU with torch.nn.RNN/LSTM/GRU's options, parameter names,
// layouts and initialisation, so a torch state dict loads with no renaming. Each layer-direction is one autograd op
// (LMTensor `recurrentLayer`: BPTT inside its backward); this file stacks layers and directions, applies dropout
// between layers and handles batch_first. Not here: unbatched (2-d) inputs and PackedSequence objects — per-sequence
// lengths are passed as `lengths:` instead and follow pack_padded_sequence semantics.

import LMTensor

/// Hidden state of a recurrent network: h [layers·directions, B, P] and, for an LSTM, c [layers·directions, B, H]
/// (torch's `h_0`/`h_n` and `(h_0, c_0)`/`(h_n, c_n)`).
public struct RecurrentState {
    public var h: Tensor
    public var c: Tensor?
    public init(h: Tensor, c: Tensor? = nil) { self.h = h; self.c = c }
    /// The same state cut from the graph (truncated BPTT carries it across windows this way).
    public func detached() -> RecurrentState { RecurrentState(h: h.detach(), c: c?.detach()) }
}

/// The parameters of one layer in one direction, torch layout: weight_ih [G·H, in], weight_hh [G·H, P],
/// bias_ih / bias_hh [G·H], weight_hr [P, H] (LSTM with proj_size only).
public struct RecurrentLayerWeights {
    public let weightIH: Tensor, weightHH: Tensor, biasIH: Tensor?, biasHH: Tensor?, weightHR: Tensor?
}

/// A stack of recurrent layers (torch.nn.RNNBase). Use `RNN`, `LSTM` or `GRU`.
///
/// Parameters are named as torch names them: `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`,
/// `weight_hr_l{k}` (proj_size), each with `_reverse` for the backward direction. Every parameter is initialised
/// U(−1/√H, 1/√H) with H = hidden_size, in that order.
open class RecurrentNetwork: Module {
    public let cell: RecurrentCell
    public let inputSize: Int, hiddenSize: Int, layerCount: Int
    /// proj_size (LSTM only); 0 = no projection.
    public let projectionSize: Int
    public let bidirectional: Bool, batchFirst: Bool
    /// Dropout probability applied to the outputs of every layer but the last, in training mode.
    public let dropout: Double
    /// Source of the between-layer dropout masks: the generator given to init (nil when dropout is 0).
    public let dropoutGenerator: Generator?
    /// Layer-direction weights, index layer · directions + direction.
    public let weights: [RecurrentLayerWeights]

    public var directionCount: Int { bidirectional ? 2 : 1 }
    /// Size of h and of each direction's output: proj_size if set, else hidden_size.
    public var stateSize: Int { projectionSize > 0 ? projectionSize : hiddenSize }

    public init(cell: RecurrentCell, inputSize: Int, hiddenSize: Int, layerCount: Int = 1, bias: Bool = true,
                batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false, projectionSize: Int = 0,
                generator: Generator) {
        precondition(inputSize > 0 && hiddenSize > 0 && layerCount > 0,
                     "\(cell): sizes must be positive (input \(inputSize), hidden \(hiddenSize), layers \(layerCount))")
        precondition(projectionSize >= 0 && projectionSize < hiddenSize || projectionSize == 0,
                     "\(cell): proj_size \(projectionSize) must be in 0..<hidden_size \(hiddenSize)")
        precondition(projectionSize == 0 || cell == .lstm, "\(cell): proj_size is only supported by LSTM")
        precondition(dropout >= 0 && dropout <= 1, "\(cell): dropout \(dropout) outside [0, 1]")
        self.cell = cell; self.inputSize = inputSize; self.hiddenSize = hiddenSize; self.layerCount = layerCount
        self.projectionSize = projectionSize; self.bidirectional = bidirectional; self.batchFirst = batchFirst
        self.dropout = dropout
        // Masks draw from the init generator itself (torch draws from its global generator), so whoever saves that
        // generator's offset (the trainer's model generator) resumes the same masks.
        self.dropoutGenerator = dropout > 0 ? generator : nil
        let G = cell.gateCount * hiddenSize, P = projectionSize > 0 ? projectionSize : hiddenSize
        let bound = 1 / Double(hiddenSize).squareRoot()
        func parameter(_ shape: [Int]) -> Tensor {
            Init.uniform(Tensor(zeros: shape, requiresGrad: true), low: -bound, high: bound, generator: generator)
        }
        var weights: [RecurrentLayerWeights] = []
        for layer in 0..<layerCount {
            let layerInput = layer == 0 ? inputSize : P * (bidirectional ? 2 : 1)
            for _ in 0..<(bidirectional ? 2 : 1) {
                // torch's order within a layer-direction: w_ih, w_hh, b_ih, b_hh, w_hr.
                let wih = parameter([G, layerInput]), whh = parameter([G, P])
                let bih = bias ? parameter([G]) : nil, bhh = bias ? parameter([G]) : nil
                let whr = projectionSize > 0 ? parameter([P, hiddenSize]) : nil
                weights.append(RecurrentLayerWeights(weightIH: wih, weightHH: whh, biasIH: bih, biasHH: bhh, weightHR: whr))
            }
        }
        self.weights = weights
    }

    /// torch's flat parameter names: a variable number of top-level tensors, so they are listed here (as `Sequential`
    /// numbers its layers) rather than renamed with `keys`. Every stored tensor is in `weights`, all listed.
    override open var children: [(name: String, value: Any)] {
        var out: [(name: String, value: Any)] = []
        for (index, w) in weights.enumerated() {
            let suffix = "_l\(index / directionCount)" + (index % directionCount == 1 ? "_reverse" : "")
            out.append(("weight_ih" + suffix, w.weightIH))
            out.append(("weight_hh" + suffix, w.weightHH))
            if let b = w.biasIH { out.append(("bias_ih" + suffix, b)) }
            if let b = w.biasHH { out.append(("bias_hh" + suffix, b)) }
            if let r = w.weightHR { out.append(("weight_hr" + suffix, r)) }
        }
        return out
    }

    /// A zero state for `batch` sequences.
    public func zeroState(batch: Int, dtype: DType = .float32) -> RecurrentState {
        let n = layerCount * directionCount
        return RecurrentState(h: Tensor(zeros: [n, batch, stateSize], dtype: dtype),
                              c: cell == .lstm ? Tensor(zeros: [n, batch, hiddenSize], dtype: dtype) : nil)
    }

    /// Runs the stack. input [T, B, inputSize] ([B, T, inputSize] with batchFirst); state nil = zeros; lengths: one per
    /// sequence in 1…T (pack_padded_sequence semantics: padded outputs are zero, final states are taken at each
    /// sequence's last real step). Returns output [T, B, D·P] ([B, T, D·P] with batchFirst) and the final state.
    public func callAsFunction(_ input: Tensor, state: RecurrentState? = nil, lengths: [Int]? = nil) -> (output: Tensor, state: RecurrentState) {
        precondition(input.rank == 3 && input.shape[2] == inputSize,
                     "\(cell): input \(input.shape) must be [\(batchFirst ? "B, T" : "T, B"), \(inputSize)]")
        var sequence = batchFirst ? input.transpose(0, 1) : input  // [T, B, I]
        let B = sequence.shape[1]
        let start = state ?? zeroState(batch: B, dtype: input.dtype)
        precondition(start.h.shape == [layerCount * directionCount, B, stateSize],
                     "\(cell): h0 \(start.h.shape); expected [\(layerCount * directionCount), \(B), \(stateSize)]")
        if let c = start.c { precondition(c.shape == [layerCount * directionCount, B, hiddenSize], "\(cell): c0 \(c.shape)") }
        var hs: [Tensor] = [], cs: [Tensor] = []
        for layer in 0..<layerCount {
            var outputs: [Tensor] = []
            for direction in 0..<directionCount {
                let index = layer * directionCount + direction, w = weights[index]
                let h0 = start.h.slice(0, index, index + 1).reshape([B, stateSize])  // [B, P]
                let c0 = start.c?.slice(0, index, index + 1).reshape([B, hiddenSize])  // [B, H]
                let r = Tensor.recurrentLayer(sequence, cell: cell, weightIH: w.weightIH, weightHH: w.weightHH,
                                              biasIH: w.biasIH, biasHH: w.biasHH, weightHR: w.weightHR, h0: h0, c0: c0,
                                              lengths: lengths, reverse: direction == 1)
                outputs.append(r.output)  // [T, B, P]
                hs.append(r.h)
                if let c = r.c { cs.append(c) }
            }
            sequence = outputs.count == 1 ? outputs[0] : Tensor.concat(outputs, axis: 2)  // [T, B, D·P]
            if layer < layerCount - 1, dropout > 0, isTraining, let dropoutGenerator {
                sequence = sequence.dropout(dropout, training: true, generator: dropoutGenerator)
            }
        }
        let final = RecurrentState(h: Tensor.stack(hs, axis: 0), c: cs.isEmpty ? nil : Tensor.stack(cs, axis: 0))
        return (batchFirst ? sequence.transpose(0, 1) : sequence, final)
    }
}

/// Elman RNN, h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu), torch.nn.RNN.
public final class RNN: RecurrentNetwork {
    public enum Nonlinearity: String, Sendable { case tanh, relu }
    public init(inputSize: Int, hiddenSize: Int, layerCount: Int = 1, nonlinearity: Nonlinearity = .tanh, bias: Bool = true,
                batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false, generator: Generator) {
        super.init(cell: nonlinearity == .tanh ? .rnnTanh : .rnnReLU, inputSize: inputSize, hiddenSize: hiddenSize,
                   layerCount: layerCount, bias: bias, batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional,
                   generator: generator)
    }
}

/// LSTM with gates i, f, g, o (torch.nn.LSTM): c' = f⊙c + i⊙g, h' = o⊙tanh(c'), then h' = W_hr h' with proj_size.
public final class LSTM: RecurrentNetwork {
    public init(inputSize: Int, hiddenSize: Int, layerCount: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Double = 0, bidirectional: Bool = false, projectionSize: Int = 0, generator: Generator) {
        super.init(cell: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, layerCount: layerCount, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, projectionSize: projectionSize,
                   generator: generator)
    }
}

/// GRU with gates r, z, n (torch.nn.GRU): n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)), h' = (1 − z)⊙n + z⊙h.
public final class GRU: RecurrentNetwork {
    public init(inputSize: Int, hiddenSize: Int, layerCount: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Double = 0, bidirectional: Bool = false, generator: Generator) {
        super.init(cell: .gru, inputSize: inputSize, hiddenSize: hiddenSize, layerCount: layerCount, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator)
    }
}
