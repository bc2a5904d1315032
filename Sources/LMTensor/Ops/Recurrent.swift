// One recurrent layer in one direction as ONE autograd op (LMKernels/Recurrent): backpropagation through time runs
// inside its backward, so a sequence of T steps adds one graph node, not T. Stacking layers and directions, dropout
// between layers and batch_first are LMNN/Recurrent.swift's job.
// The op has three results (outputs, h_n, c_n); they are views into one packed tensor, so one node owns them and a
// result left unused simply receives a zero gradient.

extension Tensor {
    /// One layer of `cell` over a time-major sequence, in one direction (torch.nn.RNN/LSTM/GRU equations).
    ///
    /// - input: [T, B, I]; weightIH [G·H, I]; weightHH [G·H, P]; biasIH, biasHH [G·H] or nil; weightHR [P, H] (LSTM
    ///   proj_size) or nil, in which case P = H; h0 [B, P]; c0 [B, H] (LSTM only).
    /// - lengths: per-sequence lengths in 1…T (pack_padded_sequence semantics: outputs past a sequence's length are
    ///   zero and its final state is the one after its last real step; the reverse direction starts there).
    /// - Returns: output [T, B, P], h_n [B, P], c_n [B, H] (LSTM) or nil.
    public static func recurrentLayer(_ input: Tensor, cell: RecurrentCell, weightIH: Tensor, weightHH: Tensor,
                                      biasIH: Tensor?, biasHH: Tensor?, weightHR: Tensor? = nil, h0: Tensor, c0: Tensor?,
                                      lengths: [Int]? = nil, reverse: Bool = false) -> (output: Tensor, h: Tensor, c: Tensor?) {
        precondition(input.rank == 3, "recurrent_layer: input must be [T, B, I], got \(input.shape)")
        let T = input.shape[0], B = input.shape[1], I = input.shape[2], dtype = input.dtype
        let G = weightIH.shape[0], H = G / cell.gateCount, P = weightHH.shape.last ?? 0
        precondition(weightIH.shape == [G, I] && G % cell.gateCount == 0 && G > 0,
                     "recurrent_layer: weight_ih \(weightIH.shape) for input \(input.shape) and \(cell) (\(cell.gateCount) gates)")
        precondition(weightHH.shape == [G, P], "recurrent_layer: weight_hh \(weightHH.shape); expected [\(G), state size]")
        if let weightHR {
            precondition(cell == .lstm && weightHR.shape == [P, H] && P < H,
                         "recurrent_layer: weight_hr \(weightHR.shape) needs an LSTM and shape [proj \(P) < \(H), \(H)]")
        } else {
            precondition(P == H, "recurrent_layer: weight_hh \(weightHH.shape) has state size \(P) but hidden size is \(H)")
        }
        for b in [biasIH, biasHH] { if let b { precondition(b.shape == [G], "recurrent_layer: bias \(b.shape); expected [\(G)]") } }
        precondition(h0.shape == [B, P], "recurrent_layer: h0 \(h0.shape); expected [\(B), \(P)]")
        precondition((c0 != nil) == (cell == .lstm), "recurrent_layer: c0 is given exactly for an LSTM")
        if let c0 { precondition(c0.shape == [B, H], "recurrent_layer: c0 \(c0.shape); expected [\(B), \(H)]") }
        if let lengths {
            precondition(lengths.count == B && lengths.allSatisfy { $0 >= 1 && $0 <= T },
                         "recurrent_layer: lengths \(lengths) must be \(B) values in 1...\(T)")
        }
        for p in [weightIH, weightHH, biasIH, biasHH, weightHR, h0, c0].compactMap({ $0 }) {
            precondition(p.dtype == dtype, "recurrent_layer: dtype mismatch \(p.dtype) vs input \(dtype)")
        }
        let shape = RecurrentShape(cell: cell, steps: T, batch: B, inputSize: I, hiddenSize: H, stateSize: P, reverse: reverse)
        let x = input.contiguous(), wih = weightIH.contiguous(), whh = weightHH.contiguous()
        let bih = biasIH?.contiguous(), bhh = biasHH?.contiguous(), whr = weightHR?.contiguous()
        let h0c = h0.contiguous(), c0c = c0?.contiguous()
        // Packed results: outputs [T·B·P], then h_n [B·P], then c_n [B·H].
        let yCount = T * B * P, hCount = B * P, cCount = cell == .lstm ? B * H : 0
        let packed = Tensor(uninitialized: [yCount + hCount + cCount], dtype: dtype)
        let gates = Tensor(uninitialized: [T * B * G], dtype: dtype)
        let previous = Tensor(uninitialized: [T * B * P], dtype: dtype)
        let aux = Tensor(uninitialized: [Swift.max(T * B * H, 1)], dtype: dtype)

        func weights<S: KernelScalar>(_: S.Type) -> RecurrentWeights<S> {
            RecurrentWeights(weightIH: wih.pointer(S.self), weightHH: whh.pointer(S.self), biasIH: bih.map { UnsafePointer($0.pointer(S.self)) },
                             biasHH: bhh.map { UnsafePointer($0.pointer(S.self)) }, weightHR: whr.map { UnsafePointer($0.pointer(S.self)) })
        }
        func saved<S: KernelScalar>(_: S.Type) -> RecurrentSaved<S> {
            RecurrentSaved(gates: gates.pointer(S.self), previous: previous.pointer(S.self), aux: aux.pointer(S.self))
        }
        func run<S: KernelScalar>(_: S.Type) {
            let out = packed.pointer(S.self), h = out + yCount, c = cell == .lstm ? h + hCount : nil
            h.update(from: h0c.pointer(S.self), count: hCount)
            if let c, let c0c { c.update(from: c0c.pointer(S.self), count: cCount) }
            let bias = Tensor(uninitialized: [G + H], dtype: dtype)
            let hw = cell == .gru ? Tensor(uninitialized: [B * H], dtype: dtype) : nil
            let m = whr.map { _ in Tensor(uninitialized: [B * H], dtype: dtype) }
            // A batch of one runs its steps as gemv on W_hh as stored; transposing it would cost as much as the step.
            let whhT = B > 1 ? Tensor(uninitialized: [P * G], dtype: dtype) : nil
            withLengths(lengths) { len in
                RecurrentKernel.forward(shape, x: x.pointer(S.self), weights: weights(S.self), lengths: len, h: h, c: c, y: out,
                                        saved: saved(S.self), bias: bias.pointer(S.self), hw: hw?.pointer(S.self),
                                        m: m?.pointer(S.self), weightHHT: whhT?.pointer(S.self))
            }
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }

        let inputs: [Tensor?] = [x, wih, whh, bih, bhh, whr, h0c, c0c]
        let present = inputs.compactMap { $0 }
        let result = Tensor.record("recurrent_layer", inputs: present, output: packed) { gPacked in
            let g = gPacked.contiguous()
            let dx = x.requiresGrad ? Tensor(uninitialized: x.shape, dtype: dtype) : nil
            let dwih = Tensor(uninitialized: wih.shape, dtype: dtype), dwhh = Tensor(uninitialized: whh.shape, dtype: dtype)
            let dbih = bih.map { Tensor(uninitialized: $0.shape, dtype: dtype) }, dbhh = bhh.map { Tensor(uninitialized: $0.shape, dtype: dtype) }
            let dwhr = whr.map { Tensor(uninitialized: $0.shape, dtype: dtype) }
            let dh = Tensor(uninitialized: [B, P], dtype: dtype)
            let dc = cell == .lstm ? Tensor(uninitialized: [B, H], dtype: dtype) : nil
            func back<S: KernelScalar>(_: S.Type) {
                let gp = g.pointer(S.self)
                dh.pointer(S.self).update(from: gp + yCount, count: hCount)
                if let dc { dc.pointer(S.self).update(from: gp + yCount + hCount, count: cCount) }
                let dGate = Tensor(uninitialized: [T * B * G], dtype: dtype)
                let dGateHidden = cell == .gru ? Tensor(uninitialized: [T * B * G], dtype: dtype) : nil
                let dState = whr.map { _ in Tensor(uninitialized: [T * B * P], dtype: dtype) }
                let mAll = whr.map { _ in Tensor(uninitialized: [T * B * H], dtype: dtype) }
                let dm = whr.map { _ in Tensor(uninitialized: [B * H], dtype: dtype) }
                withLengths(lengths) { len in
                    RecurrentKernel.backward(shape, x: x.pointer(S.self), weights: weights(S.self), lengths: len, saved: saved(S.self),
                                       dy: UnsafePointer(gp), dh: dh.pointer(S.self), dc: dc?.pointer(S.self),
                                       dx: dx?.pointer(S.self), dWeightIH: dwih.pointer(S.self), dWeightHH: dwhh.pointer(S.self),
                                       dBiasIH: dbih?.pointer(S.self), dBiasHH: dbhh?.pointer(S.self), dWeightHR: dwhr?.pointer(S.self),
                                       dGate: dGate.pointer(S.self), dGateHidden: dGateHidden?.pointer(S.self),
                                       dState: dState?.pointer(S.self), mAll: mAll?.pointer(S.self), dm: dm?.pointer(S.self))
                }
            }
            switch dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            let grads: [Tensor?] = [dx, dwih, dwhh, dbih, dbhh, dwhr, dh, dc]
            // One gradient per present input, nil where the input does not require grad.
            var out: [Tensor?] = []
            for (input, grad) in zip(inputs, grads) { if let input { out.append(input.requiresGrad ? grad : nil) } }
            return out
        }
        let output = result.slice(0, 0, yCount).reshape([T, B, P])
        let h = result.slice(0, yCount, yCount + hCount).reshape([B, P])
        let c = cell == .lstm ? result.slice(0, yCount + hCount).reshape([B, H]) : nil
        return (output, h, c)
    }
}

/// Calls body with a pointer to the lengths (nil when every sequence is full length).
private func withLengths<R>(_ lengths: [Int]?, _ body: (UnsafePointer<Int>?) -> R) -> R {
    guard let lengths else { return body(nil) }
    return lengths.withUnsafeBufferPointer { body($0.baseAddress) }
}
