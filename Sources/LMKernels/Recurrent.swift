// One recurrent layer in one direction (Elman RNN, LSTM with optional projection, GRU), forward and backward through
// time, over time-major buffers. Follows torch.nn.RNN/LSTM/GRU's equations, gate order (LSTM i,f,g,o; GRU r,z,n with
// b_hn inside the reset product) and pack_padded_sequence semantics for per-sequence lengths.
// Speed design: one gemm for the input projection of all steps, one gemm per step for the hidden projection, the gate
// nonlinearities and state update fused into one pass per step; the backward mirrors it (one gemm per step for dh,
// then one gemm each for dx, dW_ih, dW_hh over all steps). No allocation: the caller passes every buffer.
// Letters: T steps, B batch, I input size, H hidden (cell) size, P state/output size (H, or proj_size), G gates.

/// The recurrence a layer runs (torch: `nn.RNN(nonlinearity='tanh'|'relu')`, `nn.LSTM`, `nn.GRU`).
public enum RecurrentCell: Sendable, Equatable {
    case rnnTanh, rnnReLU, lstm, gru
    /// Gate blocks stacked in weight_ih / weight_hh: 1, 1, 4 (i, f, g, o) and 3 (r, z, n).
    public var gateCount: Int {
        switch self { case .rnnTanh, .rnnReLU: return 1; case .lstm: return 4; case .gru: return 3 }
    }
}

/// Sizes and options of one layer-direction.
public struct RecurrentShape: Sendable {
    public var cell: RecurrentCell
    public var steps: Int, batch: Int, inputSize: Int, hiddenSize: Int, stateSize: Int
    /// Processes time from T−1 down to 0 (the reverse direction of a bidirectional layer).
    public var reverse: Bool
    public init(cell: RecurrentCell, steps: Int, batch: Int, inputSize: Int, hiddenSize: Int, stateSize: Int, reverse: Bool) {
        self.cell = cell; self.steps = steps; self.batch = batch; self.inputSize = inputSize
        self.hiddenSize = hiddenSize; self.stateSize = stateSize; self.reverse = reverse
    }
    @inlinable public var gates: Int { cell.gateCount * hiddenSize }
    @inlinable public var projected: Bool { stateSize != hiddenSize }
    /// The time index of processing step s.
    @inlinable public func time(_ s: Int) -> Int { reverse ? steps - 1 - s : s }
}

/// Parameters of one layer-direction (torch layout): weightIH [G·H, I], weightHH [G·H, P], biases [G·H],
/// weightHR [P, H] for an LSTM with proj_size.
public struct RecurrentWeights<T: KernelScalar> {
    public var weightIH: UnsafePointer<T>, weightHH: UnsafePointer<T>
    public var biasIH: UnsafePointer<T>?, biasHH: UnsafePointer<T>?, weightHR: UnsafePointer<T>?
    public init(weightIH: UnsafePointer<T>, weightHH: UnsafePointer<T>, biasIH: UnsafePointer<T>?, biasHH: UnsafePointer<T>?,
                weightHR: UnsafePointer<T>?) {
        self.weightIH = weightIH; self.weightHH = weightHH; self.biasIH = biasIH; self.biasHH = biasHH; self.weightHR = weightHR
    }
}

/// What the forward saves for the backward, all time-indexed: `gates` [T, B, G·H] (LSTM: i, f, g, o after their
/// nonlinearity; GRU: r, z, n; RNN: the new hidden state), `previous` [T, B, P] (the state each step read) and
/// `aux` [T, B, H] (LSTM: the previous cell; GRU: W_hn·h + b_hn; unused by RNN).
public struct RecurrentSaved<T: KernelScalar> {
    public var gates: UnsafeMutablePointer<T>, previous: UnsafeMutablePointer<T>, aux: UnsafeMutablePointer<T>
    public init(gates: UnsafeMutablePointer<T>, previous: UnsafeMutablePointer<T>, aux: UnsafeMutablePointer<T>) {
        self.gates = gates; self.previous = previous; self.aux = aux
    }
}

public enum RecurrentKernel {
    /// Sequence b takes part in step t iff t < lengths[b] (pack_padded_sequence); without lengths every step is real.
    @inlinable @inline(__always) static func active(_ lengths: UnsafePointer<Int>?, _ b: Int, _ t: Int) -> Bool {
        lengths.map { t < $0[b] } ?? true
    }

    /// Forward over all steps. x [T, B, I]; h [B, P] holds h0 on entry and h_n on exit, c [B, H] (LSTM) likewise;
    /// y [T, B, P] gets the outputs (zeros at padded steps). Workspaces: xw [T·B, G·H], hw [B, G·H], m [B, H] (proj).
    @inlinable public static func forward<T: KernelScalar>(
        _ s: RecurrentShape, x: UnsafePointer<T>, weights w: RecurrentWeights<T>, lengths: UnsafePointer<Int>?,
        h: UnsafeMutablePointer<T>, c: UnsafeMutablePointer<T>?, y: UnsafeMutablePointer<T>, saved: RecurrentSaved<T>,
        xw: UnsafeMutablePointer<T>, hw: UnsafeMutablePointer<T>, m: UnsafeMutablePointer<T>?
    ) {
        let B = s.batch, H = s.hiddenSize, P = s.stateSize, G = s.gates
        // Input projection of every step at once: xw = x · W_ihᵀ  [T·B, G·H].
        Matmul.gemm(transA: false, transB: true, M: s.steps * B, N: G, K: s.inputSize, alpha: 1, A: x, lda: s.inputSize,
                    B: w.weightIH, ldb: s.inputSize, beta: 0, C: xw, ldc: G)
        for step in 0..<s.steps {
            let t = s.time(step)
            let prev = saved.previous + t * B * P
            prev.update(from: h, count: B * P)
            // Hidden projection: hw = h · W_hhᵀ  [B, G·H].
            Matmul.gemm(transA: false, transB: true, M: B, N: G, K: P, alpha: 1, A: h, lda: P, B: w.weightHH, ldb: P,
                        beta: 0, C: hw, ldc: G)
            Parallel.forRows(B, workPerRow: G * 8) { rows in
                for b in rows {
                    let on = active(lengths, b, t)
                    let row = t * B + b
                    let out = y + row * P
                    if !on {
                        // Padded step: output zero, state unchanged (the gates are never read for it).
                        out.initialize(repeating: 0, count: P)
                        continue
                    }
                    let pre = xw + row * G, hid = hw + b * G, gate = saved.gates + row * G, aux = saved.aux + row * H
                    func bias(_ k: Int) -> T { (w.biasIH?[k] ?? 0) + (w.biasHH?[k] ?? 0) }
                    switch s.cell {
                    case .rnnTanh, .rnnReLU:
                        for j in 0..<H {
                            let z = pre[j] + hid[j] + bias(j)
                            let v = s.cell == .rnnTanh ? Activations.tanh(z) : (z > 0 ? z : 0)
                            gate[j] = v; h[b * P + j] = v; out[j] = v
                        }
                    case .lstm:
                        let cb = c! + b * H
                        let mRow = s.projected ? m! + b * H : h + b * P
                        for j in 0..<H {
                            let i = Activations.sigmoid(pre[j] + hid[j] + bias(j))
                            let f = Activations.sigmoid(pre[H + j] + hid[H + j] + bias(H + j))
                            let g = Activations.tanh(pre[2 * H + j] + hid[2 * H + j] + bias(2 * H + j))
                            let o = Activations.sigmoid(pre[3 * H + j] + hid[3 * H + j] + bias(3 * H + j))
                            gate[j] = i; gate[H + j] = f; gate[2 * H + j] = g; gate[3 * H + j] = o
                            aux[j] = cb[j]
                            let cNew = f * cb[j] + i * g
                            cb[j] = cNew
                            mRow[j] = o * Activations.tanh(cNew)
                            if !s.projected { out[j] = mRow[j] }
                        }
                    case .gru:
                        for j in 0..<H {
                            let r = Activations.sigmoid(pre[j] + hid[j] + bias(j))
                            let z = Activations.sigmoid(pre[H + j] + hid[H + j] + bias(H + j))
                            let hn = hid[2 * H + j] + (w.biasHH?[2 * H + j] ?? 0)
                            let n = Activations.tanh(pre[2 * H + j] + (w.biasIH?[2 * H + j] ?? 0) + r * hn)
                            gate[j] = r; gate[H + j] = z; gate[2 * H + j] = n
                            aux[j] = hn
                            let v = (1 - z) * n + z * h[b * P + j]
                            h[b * P + j] = v; out[j] = v
                        }
                    }
                }
            }
            if s.projected {
                // h = m · W_hrᵀ for the real rows; padded rows keep their state. y holds the new state of real rows.
                Matmul.gemm(transA: false, transB: true, M: B, N: P, K: H, alpha: 1, A: m!, lda: H, B: w.weightHR!, ldb: H,
                            beta: 0, C: y + t * B * P, ldc: P)
                for b in 0..<B {
                    let out = y + (t * B + b) * P
                    if active(lengths, b, t) { (h + b * P).update(from: out, count: P) } else { out.initialize(repeating: 0, count: P) }
                }
            }
        }
    }

    /// Gradients of one layer-direction. dy [T, B, P] (nil = zero); dh [B, P] holds dL/dh_n on entry (zero if
    /// unused) and dL/dh0 on exit, dc [B, H] (LSTM) likewise. Outputs are overwritten: dx [T, B, I] (or nil), dWeightIH,
    /// dWeightHH, dBiasIH, dBiasHH, dWeightHR. Workspaces: dGate [T·B, G·H]; dGateHidden [T·B, G·H] (GRU);
    /// dState [T·B, P] and mAll [T·B, H] (proj); dm [B, H] (proj).
    @inlinable public static func backward<T: KernelScalar>(
        _ s: RecurrentShape, x: UnsafePointer<T>, weights w: RecurrentWeights<T>, lengths: UnsafePointer<Int>?,
        saved: RecurrentSaved<T>, dy: UnsafePointer<T>?, dh: UnsafeMutablePointer<T>, dc: UnsafeMutablePointer<T>?,
        dx: UnsafeMutablePointer<T>?, dWeightIH: UnsafeMutablePointer<T>, dWeightHH: UnsafeMutablePointer<T>,
        dBiasIH: UnsafeMutablePointer<T>?, dBiasHH: UnsafeMutablePointer<T>?, dWeightHR: UnsafeMutablePointer<T>?,
        dGate: UnsafeMutablePointer<T>, dGateHidden: UnsafeMutablePointer<T>?, dState: UnsafeMutablePointer<T>?,
        mAll: UnsafeMutablePointer<T>?, dm: UnsafeMutablePointer<T>?
    ) {
        let B = s.batch, H = s.hiddenSize, P = s.stateSize, G = s.gates, TB = s.steps * B
        // The hidden-side gate gradient equals the input-side one except for GRU's n gate (scaled by r).
        let dHidden = s.cell == .gru ? dGateHidden! : dGate
        for step in stride(from: s.steps - 1, through: 0, by: -1) {
            let t = s.time(step)
            // dL/d(new state) = carried dh + this step's output gradient, for real rows.
            var dTotal: UnsafeMutablePointer<T> = dh
            if s.projected {
                // The state is m · W_hrᵀ: dm = dState · W_hr. dState rows of padded steps are zero.
                let ds = dState! + t * B * P
                for b in 0..<B {
                    if active(lengths, b, t) {
                        for k in 0..<P { ds[b * P + k] = dh[b * P + k] + (dy?[(t * B + b) * P + k] ?? 0) }
                    } else {
                        (ds + b * P).initialize(repeating: 0, count: P)
                    }
                }
                Matmul.gemm(transA: false, transB: false, M: B, N: H, K: P, alpha: 1, A: ds, lda: P, B: w.weightHR!, ldb: H,
                            beta: 0, C: dm!, ldc: H)
                dTotal = dm!
            } else if let dy {
                for b in 0..<B where active(lengths, b, t) {
                    for k in 0..<P { dh[b * P + k] += dy[(t * B + b) * P + k] }
                }
            }
            Parallel.forRows(B, workPerRow: G * 8) { rows in
                for b in rows {
                    let row = t * B + b
                    let dg = dGate + row * G, dgh = dHidden + row * G
                    if !active(lengths, b, t) {
                        // Padded step: no gate gradient; dh and dc pass through unchanged.
                        dg.initialize(repeating: 0, count: G)
                        if s.cell == .gru { dgh.initialize(repeating: 0, count: G) }
                        if s.projected { (mAll! + row * H).initialize(repeating: 0, count: H) }
                        continue
                    }
                    let gate = saved.gates + row * G, aux = saved.aux + row * H, d = dTotal + b * (s.projected ? H : P)
                    switch s.cell {
                    case .rnnTanh, .rnnReLU:
                        for j in 0..<H {
                            let v = gate[j]
                            dg[j] = d[j] * (s.cell == .rnnTanh ? 1 - v * v : (v > 0 ? 1 : 0))
                            dh[b * P + j] = 0
                        }
                    case .lstm:
                        let dcb = dc! + b * H
                        for j in 0..<H {
                            let i = gate[j], f = gate[H + j], g = gate[2 * H + j], o = gate[3 * H + j]
                            let cPrev = aux[j]
                            let tc = Activations.tanh(f * cPrev + i * g)
                            if s.projected { mAll![row * H + j] = o * tc }
                            let dcTotal = dcb[j] + d[j] * o * (1 - tc * tc)
                            dg[j] = dcTotal * g * i * (1 - i)
                            dg[H + j] = dcTotal * cPrev * f * (1 - f)
                            dg[2 * H + j] = dcTotal * i * (1 - g * g)
                            dg[3 * H + j] = d[j] * tc * o * (1 - o)
                            dcb[j] = dcTotal * f
                        }
                        for k in 0..<P { dh[b * P + k] = 0 }
                    case .gru:
                        let hPrev = saved.previous + row * P
                        for j in 0..<H {
                            let r = gate[j], z = gate[H + j], n = gate[2 * H + j]
                            let dv = d[j]
                            let dn = dv * (1 - z) * (1 - n * n)
                            let dz = dv * (hPrev[j] - n) * z * (1 - z)
                            let dr = dn * aux[j] * r * (1 - r)
                            dg[j] = dr; dg[H + j] = dz; dg[2 * H + j] = dn
                            dgh[j] = dr; dgh[H + j] = dz; dgh[2 * H + j] = dn * r
                            dh[b * P + j] = dv * z
                        }
                    }
                }
            }
            // dh_prev += dGateHidden · W_hh  [B, P] (padded rows have zero gate gradients, so they keep dh).
            Matmul.gemm(transA: false, transB: false, M: B, N: P, K: G, alpha: 1, A: dHidden + t * B * G, lda: G,
                        B: w.weightHH, ldb: P, beta: 1, C: dh, ldc: P)
        }
        // Whole-sequence products: dx = dGate · W_ih (skipped when nil: the input needs no gradient),
        // dW_ih = dGateᵀ · x, dW_hh = dGateHiddenᵀ · previous states.
        if let dx {
            Matmul.gemm(transA: false, transB: false, M: TB, N: s.inputSize, K: G, alpha: 1, A: dGate, lda: G,
                        B: w.weightIH, ldb: s.inputSize, beta: 0, C: dx, ldc: s.inputSize)
        }
        Matmul.gemm(transA: true, transB: false, M: G, N: s.inputSize, K: TB, alpha: 1, A: dGate, lda: G,
                    B: x, ldb: s.inputSize, beta: 0, C: dWeightIH, ldc: s.inputSize)
        Matmul.gemm(transA: true, transB: false, M: G, N: P, K: TB, alpha: 1, A: dHidden, lda: G,
                    B: saved.previous, ldb: P, beta: 0, C: dWeightHH, ldc: P)
        if let dWeightHR {
            Matmul.gemm(transA: true, transB: false, M: P, N: H, K: TB, alpha: 1, A: dState!, lda: P, B: mAll!, ldb: H,
                        beta: 0, C: dWeightHR, ldc: H)
        }
        columnSums(dGate, rows: TB, columns: G, into: dBiasIH)
        columnSums(dHidden, rows: TB, columns: G, into: dBiasHH)
    }

    @inlinable static func columnSums<T: KernelScalar>(_ a: UnsafePointer<T>, rows: Int, columns: Int, into out: UnsafeMutablePointer<T>?) {
        guard let out else { return }
        out.initialize(repeating: 0, count: columns)
        for r in 0..<rows { for k in 0..<columns { out[k] += a[r * columns + k] } }
    }
}
