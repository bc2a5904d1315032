// Multi-layer RNN (tanh/relu), LSTM (with proj_size) and GRU with torch.nn.RNN/LSTM/GRU's options, parameter names,
// layouts and initialisation, so a torch state dict loads with no renaming. Each layer-direction is one autograd op
// (LMTensor `recurrentLayer`: BPTT inside its backward); this file stacks layers and directions, applies dropout
// between layers, handles batch_first and unbatched [T, I] inputs; the standalone cells (torch.nn.RNNCell/LSTMCell/
// GRUCell) are the same op over one step. Not here: PackedSequence objects — per-sequence lengths are passed as
// `lengths:` instead and follow pack_padded_sequence semantics.

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
    /// An unbatched input [T, inputSize] (torch accepts it too) runs as a batch of one: state h [L·D, P] (c [L·D, H]),
    /// output [T, D·P].
    public func callAsFunction(_ input: Tensor, state: RecurrentState? = nil, lengths: [Int]? = nil) -> (output: Tensor, state: RecurrentState) {
        if input.rank == 2 {
            precondition(lengths == nil, "\(cell): lengths need a batch; the input \(input.shape) is unbatched [T, \(inputSize)]")
            func batched(_ t: Tensor) -> Tensor {
                precondition(t.rank == 2, "\(cell): the state of an unbatched input is [layers·directions, size], got \(t.shape)")
                return t.reshape([t.shape[0], 1, t.shape[1]])
            }
            let T = input.shape[0]
            let (output, final) = self(input.reshape(batchFirst ? [1, T, input.shape[1]] : [T, 1, input.shape[1]]),
                                       state: state.map { RecurrentState(h: batched($0.h), c: $0.c.map(batched)) })
            func unbatched(_ t: Tensor) -> Tensor { t.reshape([t.shape[0], t.shape[2]]) }
            return (output.reshape([T, output.shape[2]]), RecurrentState(h: unbatched(final.h), c: final.c.map(unbatched)))
        }
        precondition(input.rank == 3 && input.shape[2] == inputSize,
                     "\(cell): input \(input.shape) must be [\(batchFirst ? "B, T" : "T, B"), \(inputSize)] or unbatched [T, \(inputSize)]")
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

/// One step of a recurrent cell (torch.nn.RNNCell / LSTMCell / GRUCell): parameters `weight_ih` [G·H, I],
/// `weight_hh` [G·H, H], `bias_ih`, `bias_hh` [G·H], initialised U(−1/√H, 1/√H) in that order. Use `RNNCell`,
/// `LSTMCell` or `GRUCell`. The step is `recurrentLayer` over a sequence of one.
open class RecurrentCellModule: Module {
    public let cell: RecurrentCell
    public let inputSize: Int, hiddenSize: Int
    public let weightIH: Tensor, weightHH: Tensor, biasIH: Tensor?, biasHH: Tensor?

    public init(cell: RecurrentCell, inputSize: Int, hiddenSize: Int, bias: Bool = true, generator: Generator) {
        precondition(inputSize > 0 && hiddenSize > 0, "\(cell) cell: sizes must be positive (input \(inputSize), hidden \(hiddenSize))")
        self.cell = cell; self.inputSize = inputSize; self.hiddenSize = hiddenSize
        let G = cell.gateCount * hiddenSize, bound = 1 / Double(hiddenSize).squareRoot()
        func parameter(_ shape: [Int]) -> Tensor {
            Init.uniform(Tensor(zeros: shape, requiresGrad: true), low: -bound, high: bound, generator: generator)
        }
        weightIH = parameter([G, inputSize]); weightHH = parameter([G, hiddenSize])
        biasIH = bias ? parameter([G]) : nil; biasHH = bias ? parameter([G]) : nil
    }

    override open var children: [(name: String, value: Any)] {
        var out: [(name: String, value: Any)] = [("weight_ih", weightIH), ("weight_hh", weightHH)]
        if let b = biasIH { out.append(("bias_ih", b)) }
        if let b = biasHH { out.append(("bias_hh", b)) }
        return out
    }

    /// One step: input [B, I] or unbatched [I]; h, c [B, H] (or [H]), nil = zeros. Returns h′ and, for an LSTM, c′.
    func step(_ input: Tensor, h: Tensor?, c: Tensor?) -> (h: Tensor, c: Tensor?) {
        precondition((input.rank == 1 || input.rank == 2) && input.shape.last == inputSize,
                     "\(cell) cell: input \(input.shape) must be [B, \(inputSize)] or [\(inputSize)]")
        let B = input.rank == 2 ? input.shape[0] : 1, stateShape = input.rank == 2 ? [B, hiddenSize] : [hiddenSize]
        func state(_ t: Tensor?, _ name: String) -> Tensor {
            guard let t else { return Tensor(zeros: [B, hiddenSize], dtype: input.dtype) }
            precondition(t.shape == stateShape, "\(cell) cell: \(name) \(t.shape); expected \(stateShape)")
            return t.reshape([B, hiddenSize])
        }
        let r = Tensor.recurrentLayer(input.reshape([1, B, inputSize]), cell: cell, weightIH: weightIH, weightHH: weightHH,
                                      biasIH: biasIH, biasHH: biasHH, h0: state(h, "h"), c0: cell == .lstm ? state(c, "c") : nil)
        return (r.h.reshape(stateShape), r.c?.reshape(stateShape))
    }
}

/// h′ = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu), torch.nn.RNNCell.
public final class RNNCell: RecurrentCellModule {
    public init(inputSize: Int, hiddenSize: Int, bias: Bool = true, nonlinearity: RNN.Nonlinearity = .tanh, generator: Generator) {
        super.init(cell: nonlinearity == .tanh ? .rnnTanh : .rnnReLU, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias,
                   generator: generator)
    }
    /// input [B, I] or [I]; h [B, H] or [H] (nil = zeros). Returns h′.
    public func callAsFunction(_ input: Tensor, _ h: Tensor? = nil) -> Tensor { step(input, h: h, c: nil).h }
}

/// One LSTM step, gates i, f, g, o (torch.nn.LSTMCell).
public final class LSTMCell: RecurrentCellModule {
    public init(inputSize: Int, hiddenSize: Int, bias: Bool = true, generator: Generator) {
        super.init(cell: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, generator: generator)
    }
    /// input [B, I] or [I]; state (h, c), each [B, H] or [H] (nil = zeros). Returns (h′, c′).
    public func callAsFunction(_ input: Tensor, _ state: (h: Tensor, c: Tensor)? = nil) -> (h: Tensor, c: Tensor) {
        let r = step(input, h: state?.h, c: state?.c)
        return (r.h, r.c!)
    }
}

/// One GRU step, gates r, z, n with b_hn inside the reset product (torch.nn.GRUCell).
public final class GRUCell: RecurrentCellModule {
    public init(inputSize: Int, hiddenSize: Int, bias: Bool = true, generator: Generator) {
        super.init(cell: .gru, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, generator: generator)
    }
    /// input [B, I] or [I]; h [B, H] or [H] (nil = zeros). Returns h′.
    public func callAsFunction(_ input: Tensor, _ h: Tensor? = nil) -> Tensor { step(input, h: h, c: nil).h }
}
