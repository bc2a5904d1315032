// One recurrent layer in one direction (Elman RNN, LSTM with optional projection, GRU), forward and backward through
// time, over time-major buffers. Follows torch.nn.RNN/LSTM/GRU's equations, gate order (LSTM i,f,g,o; GRU r,z,n with
// b_hn inside the reset product) and pack_padded_sequence semantics for per-sequence lengths.
// Speed design: one gemm for the input projection of all steps, written straight into the saved-gates buffer; one gemm
// per step adds the hidden projection into the same rows (beta = 1); then one pass per row turns pre-activations into
// gates in place and updates the state. The backward mirrors it: one gemm per step for dh, then one gemm each for dx,
// dW_ih and dW_hh over all steps. Each row's gate work is a few loops over at most two written arrays, so the compiler
// vectorizes them (one loop touching six arrays, as before, ran scalar: 17 % of an LSTM training step). A batch of
// one runs its products as gemv (`Matmul.gemm` takes gemv for one-row products). No allocation: the caller passes every buffer.
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
/// nonlinearity; GRU: r, z, n; RNN: the new hidden state; the forward first writes the pre-activations there),
/// `previous` [T, B, P] (the state each step read) and `aux` [T, B, H] (LSTM: the previous cell; GRU: W_hn·h + b_hn; unused by RNN).
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
    /// y [T, B, P] gets the outputs (zeros at padded steps). Workspaces: bias [G·H + H], hw [B, H] (GRU), m [B, H] (proj),
    /// weightHHT [P, G·H] or nil (see below).
    @inlinable public static func forward<T: KernelScalar>(
        _ s: RecurrentShape, x: UnsafePointer<T>, weights w: RecurrentWeights<T>, lengths: UnsafePointer<Int>?,
        h: UnsafeMutablePointer<T>, c: UnsafeMutablePointer<T>?, y: UnsafeMutablePointer<T>, saved: RecurrentSaved<T>,
        bias: UnsafeMutablePointer<T>, hw: UnsafeMutablePointer<T>?, m: UnsafeMutablePointer<T>?,
        weightHHT: UnsafeMutablePointer<T>?
    ) {
        let B = s.batch, H = s.hiddenSize, P = s.stateSize, G = s.gates
        // One bias row added in the gate pass: b_ih + b_hh, except GRU's n gate, whose b_hn sits inside the reset
        // product and is kept apart in bias[G..<G+H].
        let hiddenInside = s.cell == .gru ? 2 * H : G
        for k in 0..<G { bias[k] = (w.biasIH?[k] ?? 0) + (k < hiddenInside ? (w.biasHH?[k] ?? 0) : 0) }
        for j in 0..<H { bias[G + j] = s.cell == .gru ? (w.biasHH?[2 * H + j] ?? 0) : 0 }
        // Input projection of every step at once: gates = x · W_ihᵀ  [T·B, G·H].
        Matmul.gemm(transA: false, transB: true, M: s.steps * B, N: G, K: s.inputSize, alpha: 1, A: x, lda: s.inputSize,
                       B: w.weightIH, ldb: s.inputSize, beta: 0, C: saved.gates, ldc: G)
        // The per-step product h · W_hhᵀ as gemm "nt" ran 25 % slower than "nn" with W_hhᵀ stored (OpenBLAS, M = 32,
        // K = 256, N = 1024); the caller passes weightHHT for batches where one transpose per call pays (B > 1).
        if let weightHHT {
            for p in 0..<P { for k in 0..<G { weightHHT[p * G + k] = w.weightHH[k * P + p] } }
        }
        let hidden = UnsafePointer(weightHHT) ?? w.weightHH, hiddenTransposed = weightHHT == nil
        let hiddenStride = hiddenTransposed ? P : G
        for step in 0..<s.steps {
            let t = s.time(step)
            let prev = saved.previous + t * B * P
            prev.update(from: h, count: B * P)
            // Hidden projection added in place: gates[t] += h · W_hhᵀ  [B, G·H]; GRU's n block goes to hw instead,
            // because r multiplies it. Padded rows get sums too; nothing reads them.
            Matmul.gemm(transA: false, transB: hiddenTransposed, M: B, N: hiddenInside, K: P, alpha: 1, A: h, lda: P,
                           B: hidden, ldb: hiddenStride, beta: 1, C: saved.gates + t * B * G, ldc: G)
            if s.cell == .gru {
                Matmul.gemm(transA: false, transB: hiddenTransposed, M: B, N: H, K: P, alpha: 1, A: h, lda: P,
                               B: hiddenTransposed ? hidden + 2 * H * P : hidden + 2 * H, ldb: hiddenStride, beta: 0, C: hw!, ldc: H)
            }
            Parallel.forRows(B, workPerRow: G * 8) { rows in
                for b in rows {
                    let row = t * B + b
                    let out = y + row * P
                    if !active(lengths, b, t) {
                        // Padded step: output zero, state unchanged (the gates are never read for it).
                        out.initialize(repeating: 0, count: P)
                        continue
                    }
                    let gate = saved.gates + row * G, aux = saved.aux + row * H, hRow = h + b * P
                    switch s.cell {
                    case .rnnTanh:
                        for j in 0..<H { gate[j] = Activations.tanh(gate[j] + bias[j]) }
                    case .rnnReLU:
                        for j in 0..<H { let z = gate[j] + bias[j]; gate[j] = z > 0 ? z : 0 }
                    case .lstm:
                        activate(gate, bias, 0..<2 * H, sigmoid: true)
                        activate(gate, bias, 2 * H..<3 * H, sigmoid: false)
                        activate(gate, bias, 3 * H..<4 * H, sigmoid: true)
                        // m = o ⊙ tanh(f ⊙ c + i ⊙ g): h itself, or the input of the projection.
                        lstmCellUpdate(gate, H, c: c! + b * H, previousCell: aux, m: s.projected ? m! + b * H : hRow)
                    case .gru:
                        activate(gate, bias, 0..<2 * H, sigmoid: true)
                        gruUpdate(gate, H, bias: bias, hiddenN: hw! + b * H, savedN: aux, h: hRow)
                    }
                    if s.cell == .rnnTanh || s.cell == .rnnReLU { hRow.update(from: gate, count: H) }
                    if !s.projected { out.update(from: hRow, count: P) }
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

    /// gate[j] = σ(gate[j] + bias[j]) (or tanh) over `range`, in place: one array and the bias, so it vectorizes.
    @inlinable @inline(__always) static func activate<T: KernelScalar>(
        _ gate: UnsafeMutablePointer<T>, _ bias: UnsafePointer<T>, _ range: Range<Int>, sigmoid: Bool
    ) {
        if sigmoid {
            for j in range { gate[j] = Activations.sigmoid(gate[j] + bias[j]) }
        } else {
            for j in range { gate[j] = Activations.tanh(gate[j] + bias[j]) }
        }
    }

    /// LSTM state update from activated gates (i, f, g, o): previousCell ← c; c ← f ⊙ c + i ⊙ g; m ← o ⊙ tanh(c).
    @inlinable @inline(__always) static func lstmCellUpdate<T: KernelScalar>(
        _ gate: UnsafePointer<T>, _ H: Int, c: UnsafeMutablePointer<T>, previousCell: UnsafeMutablePointer<T>,
        m: UnsafeMutablePointer<T>
    ) {
        previousCell.update(from: c, count: H)
        for j in 0..<H {
            let cNew = gate[H + j] * c[j] + gate[j] * gate[2 * H + j]
            c[j] = cNew
            m[j] = gate[3 * H + j] * Activations.tanh(cNew)
        }
    }

    /// GRU update from activated r, z and the n block's input part: hn = W_hn·h + b_hn (saved), n = tanh(gate_n +
    /// b_in + r ⊙ hn) (stored over gate_n), h ← (1 − z) ⊙ n + z ⊙ h.
    @inlinable @inline(__always) static func gruUpdate<T: KernelScalar>(
        _ gate: UnsafeMutablePointer<T>, _ H: Int, bias: UnsafePointer<T>, hiddenN: UnsafePointer<T>,
        savedN: UnsafeMutablePointer<T>, h: UnsafeMutablePointer<T>
    ) {
        let G = 3 * H
        for j in 0..<H { savedN[j] = hiddenN[j] + bias[G + j] }
        for j in 0..<H {
            let n = Activations.tanh(gate[2 * H + j] + bias[2 * H + j] + gate[j] * savedN[j])
            gate[2 * H + j] = n
            let z = gate[H + j]
            h[j] = (1 - z) * n + z * h[j]
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
                    let dhRow = dh + b * P, dyRow = dy + (t * B + b) * P
                    for k in 0..<P { dhRow[k] += dyRow[k] }
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
                    case .rnnTanh:
                        for j in 0..<H { let v = gate[j]; dg[j] = d[j] * (1 - v * v) }
                    case .rnnReLU:
                        for j in 0..<H { dg[j] = gate[j] > 0 ? d[j] : 0 }
                    case .lstm:
                        if s.projected { lstmOutputs(gate, H, previousCell: aux, m: mAll! + row * H) }
                        lstmGateGradients(gate, H, previousCell: aux, dm: d, dc: dc! + b * H, dGate: dg)
                    case .gru:
                        gruGateGradients(gate, H, savedN: aux, hPrevious: saved.previous + row * P, dh: d, dGate: dg, dGateHidden: dgh)
                    }
                    // The carried dh restarts from the part that skips the hidden product (GRU's z ⊙ dh; zero otherwise).
                    if s.cell != .gru { (dh + b * P).update(repeating: 0, count: P) }
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
        if s.cell != .gru, let dBiasIH, let dBiasHH {
            dBiasHH.update(from: dBiasIH, count: G)  // the same sums: both biases enter every gate the same way
        } else {
            columnSums(dHidden, rows: TB, columns: G, into: dBiasHH)
        }
    }

    /// m = o ⊙ tanh(c) recomputed from the saved gates and previous cell (the input of the projection, for dW_hr).
    @inlinable @inline(__always) static func lstmOutputs<T: KernelScalar>(
        _ gate: UnsafePointer<T>, _ H: Int, previousCell: UnsafePointer<T>, m: UnsafeMutablePointer<T>
    ) {
        for j in 0..<H {
            m[j] = gate[3 * H + j] * Activations.tanh(gate[H + j] * previousCell[j] + gate[j] * gate[2 * H + j])
        }
    }

    /// LSTM gate gradients for one row from dm = dL/dm and the carried dc (replaced by dL/dc_prev = dc_total ⊙ f).
    /// Three loops with at most two written arrays each (dGate's o block holds tanh(c) in between): one loop writing
    /// dGate and dc while reading four other arrays needed more runtime alias checks than the vectorizer allows and
    /// ran scalar (8 % of an LSTM training step, perf).
    @inlinable @inline(__always) static func lstmGateGradients<T: KernelScalar>(
        _ gate: UnsafePointer<T>, _ H: Int, previousCell: UnsafePointer<T>, dm: UnsafePointer<T>,
        dc: UnsafeMutablePointer<T>, dGate: UnsafeMutablePointer<T>
    ) {
        for j in 0..<H {
            dGate[3 * H + j] = Activations.tanh(gate[H + j] * previousCell[j] + gate[j] * gate[2 * H + j])
        }
        for j in 0..<H {
            let o = gate[3 * H + j], tc = dGate[3 * H + j]
            dc[j] += dm[j] * o * (1 - tc * tc)
            dGate[3 * H + j] = dm[j] * tc * o * (1 - o)
        }
        for j in 0..<H {
            let i = gate[j], f = gate[H + j], g = gate[2 * H + j], dcTotal = dc[j]
            dGate[j] = dcTotal * g * i * (1 - i)
            dGate[H + j] = dcTotal * previousCell[j] * f * (1 - f)
            dGate[2 * H + j] = dcTotal * i * (1 - g * g)
            dc[j] = dcTotal * f
        }
    }

    /// GRU gate gradients for one row (input side dGate, hidden side dGateHidden: the n block scaled by r); dh is
    /// replaced by the part that flows straight to h_prev, z ⊙ dh. Split into loops for the vectorizer, as above.
    @inlinable @inline(__always) static func gruGateGradients<T: KernelScalar>(
        _ gate: UnsafePointer<T>, _ H: Int, savedN: UnsafePointer<T>, hPrevious: UnsafePointer<T>,
        dh: UnsafeMutablePointer<T>, dGate: UnsafeMutablePointer<T>, dGateHidden: UnsafeMutablePointer<T>
    ) {
        for j in 0..<H {
            let z = gate[H + j], n = gate[2 * H + j], dv = dh[j]
            dGate[2 * H + j] = dv * (1 - z) * (1 - n * n)
            dGate[H + j] = dv * (hPrevious[j] - n) * z * (1 - z)
            dh[j] = dv * z
        }
        for j in 0..<H { let r = gate[j]; dGate[j] = dGate[2 * H + j] * savedN[j] * r * (1 - r) }
        dGateHidden.update(from: dGate, count: 2 * H)
        for j in 0..<H { dGateHidden[2 * H + j] = dGate[2 * H + j] * gate[j] }
    }

    @inlinable static func columnSums<T: KernelScalar>(_ a: UnsafePointer<T>, rows: Int, columns: Int, into out: UnsafeMutablePointer<T>?) {
        guard let out else { return }
        out.initialize(repeating: 0, count: columns)
        for r in 0..<rows { for k in 0..<columns { out[k] += a[r * columns + k] } }
    }
}
