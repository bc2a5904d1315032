// State-space model kernels (Mamba, Gu & Dao 2023): the causal depthwise conv1d and the selective scan, forward and
// backward, with the naive sequential references beside them (mamba-minimal's `selective_scan`, johnma2006/mamba-minimal:
// model.py). Layout is channels-last: x, u, Δ are [B, L, D], B and C are [B, L, N], A is [D, N].
// The backward never materializes the [B, L, D, N] states: each channel recomputes its own states into a per-thread
// scratch of 2·L·N (states and decays) before walking back, so extra memory is O(threads · L · N) plus partial sums of O(B · L · D).
// Letters: B batch, L length, D channels, N state size, K conv width.

public enum SSM {
    // MARK: causal depthwise conv1d

    /// y[b, t, d] = bias[d] + Σ_k w[d, k] · x[b, t − (K−1) + k, d], with x = 0 before t = 0 (torch `conv1d(groups: D,
    /// padding: K−1)` truncated to the first L outputs). x, y [B, L, D]; w [D, K]; bias [D] or nil.
    @inlinable public static func causalConv1dForward<T: KernelScalar>(
        _ x: UnsafePointer<T>, weight w: UnsafePointer<T>, bias: UnsafePointer<T>?, _ y: UnsafeMutablePointer<T>,
        B: Int, L: Int, D: Int, K: Int
    ) {
        Parallel.forRows(B * L, workPerRow: D * K) { rows in
            for row in rows {
                let b = row / L, t = row % L
                let yr = y + row * D
                if let bias { yr.update(from: bias, count: D) } else { yr.update(repeating: 0, count: D) }
                for k in 0..<K {
                    let s = t - (K - 1) + k
                    if s < 0 { continue }
                    let xr = x + (b * L + s) * D
                    for d in 0..<D { yr[d] += w[d * K + k] * xr[d] }
                }
            }
        }
    }

    /// dx[b, s, d] = Σ_k w[d, k] · dy[b, s + (K−1) − k, d]; dw[d, k] += Σ_{b,t} dy[b, t, d] · x[b, t − (K−1) + k, d];
    /// dBias[d] += Σ_{b,t} dy[b, t, d] (dw and dBias accumulate, so callers zero them first).
    @inlinable public static func causalConv1dBackward<T: KernelScalar>(
        _ x: UnsafePointer<T>, weight w: UnsafePointer<T>, _ dy: UnsafePointer<T>, dx: UnsafeMutablePointer<T>,
        dWeight: UnsafeMutablePointer<T>, dBias: UnsafeMutablePointer<T>?, B: Int, L: Int, D: Int, K: Int
    ) {
        Parallel.forRows(B * L, workPerRow: D * K) { rows in
            for row in rows {
                let b = row / L, s = row % L
                let dxr = dx + row * D
                dxr.update(repeating: 0, count: D)
                for k in 0..<K {
                    let t = s + (K - 1) - k
                    if t >= L { continue }
                    let dyr = dy + (b * L + t) * D
                    for d in 0..<D { dxr[d] += w[d * K + k] * dyr[d] }
                }
            }
        }
        // Parameter gradients: one partial [D, K + 1] per batch row, summed in batch order (thread-count independent).
        let partial = UnsafeMutablePointer<T>.allocate(capacity: B * D * (K + 1))
        defer { partial.deallocate() }
        partial.initialize(repeating: 0, count: B * D * (K + 1))
        Parallel.forRows(B, workPerRow: L * D * K) { batches in
            for b in batches {
                let pw = partial + b * D * (K + 1), pb = pw + D * K
                for t in 0..<L {
                    let dyr = dy + (b * L + t) * D
                    for d in 0..<D { pb[d] += dyr[d] }
                    for k in 0..<K {
                        let s = t - (K - 1) + k
                        if s < 0 { continue }
                        let xr = x + (b * L + s) * D
                        for d in 0..<D { pw[d * K + k] += dyr[d] * xr[d] }
                    }
                }
            }
        }
        for b in 0..<B {
            let pw = partial + b * D * (K + 1), pb = pw + D * K
            for i in 0..<(D * K) { dWeight[i] += pw[i] }
            if let dBias { for d in 0..<D { dBias[d] += pb[d] } }
        }
    }

    /// The naive conv: the formula above as four nested loops (oracle for `causalConv1dForward`).
    public static func causalConv1dReference<T: KernelScalar>(
        _ x: [T], weight w: [T], bias: [T]?, B: Int, L: Int, D: Int, K: Int
    ) -> [T] {
        var y = [T](repeating: 0, count: B * L * D)
        for b in 0..<B {
            for t in 0..<L {
                for d in 0..<D {
                    var acc = bias?[d] ?? 0
                    for k in 0..<K where t - (K - 1) + k >= 0 { acc += w[d * K + k] * x[(b * L + t - (K - 1) + k) * D + d] }
                    y[(b * L + t) * D + d] = acc
                }
            }
        }
        return y
    }

    // MARK: selective scan

    /// Channels per work item of the scan: items are (batch row, block of channels), run in parallel.
    public static let defaultChannelBlock = 16

    /// The selective scan, for every batch row b and channel d, with state h ∈ R^N (h₋₁ = `initialState` or 0):
    ///   h_t = exp(Δ_t · A[d]) ⊙ h_{t−1} + Δ_t · u_t · B_t,   y_t = C_t · h_t + D[d] · u_t
    /// (Δ_t = delta[b, t, d], u_t = u[b, t, d], B_t = B[b, t, :], C_t = C[b, t, :]). u, delta, y [B, L, D]; A [D, N];
    /// Bm, Cm [B, L, N]; skip [D] or nil. `initialState` [B, D, N] is read and `finalState` [B, D, N] written when given
    /// (they may be the same buffer: step decoding).
    @inlinable public static func selectiveScanForward<T: KernelScalar>(
        u: UnsafePointer<T>, delta: UnsafePointer<T>, A: UnsafePointer<T>, Bm: UnsafePointer<T>, Cm: UnsafePointer<T>,
        skip: UnsafePointer<T>?, y: UnsafeMutablePointer<T>,
        initialState: UnsafePointer<T>?, finalState: UnsafeMutablePointer<T>?,
        B: Int, L: Int, D: Int, N: Int, channelBlock: Int = defaultChannelBlock
    ) {
        let blocks = (D + channelBlock - 1) / channelBlock
        Parallel.forEachItem(B * blocks, totalWork: B * L * D * N * 4, scratch: N, T.self) { item, h in
            let b = item / blocks, block = item % blocks
            for d in block * channelBlock..<Swift.min(D, (block + 1) * channelBlock) {
                let Ad = A + d * N
                if let initialState { h.update(from: initialState + (b * D + d) * N, count: N) } else { h.update(repeating: 0, count: N) }
                let Dd: T = skip?[d] ?? 0
                for t in 0..<L {
                    let i = (b * L + t) * D + d
                    let dt = delta[i], ut = u[i], dtu = dt * ut
                    let Bt = Bm + (b * L + t) * N, Ct = Cm + (b * L + t) * N
                    var acc: T = 0
                    for n in 0..<N {
                        let hn = T.kernelExp(dt * Ad[n]) * h[n] + dtu * Bt[n]
                        h[n] = hn
                        acc += Ct[n] * hn
                    }
                    y[i] = acc + Dd * ut
                }
                if let finalState { (finalState + (b * D + d) * N).update(from: h, count: N) }
            }
        }
    }

    /// Gradients of the scan (no initial state) given dy [B, L, D]. Written, not accumulated: du, dDelta [B, L, D],
    /// dA [D, N], dB, dC [B, L, N], dSkip [D] (when `skip` is given). Per channel, going back in time with
    /// g = ∂loss/∂h_t (carried as g ← exp(Δ_t A) ⊙ g):
    ///   g += dy_t · C_t;  dC_t += dy_t · h_t;  dB_t += g · Δ_t u_t;  du_t = Δ_t Σ g ⊙ B_t + D · dy_t;
    ///   dΔ_t = Σ g ⊙ (A ⊙ exp(Δ_t A) ⊙ h_{t−1} + u_t B_t);  dA += g ⊙ Δ_t exp(Δ_t A) ⊙ h_{t−1};  dD += dy_t u_t.
    /// Each channel first recomputes its states h_0…h_{L−1} and decays exp(Δ_t A) into a per-thread 2 × [L, N] scratch.
    /// dB and dC are summed over channels through one partial [L, N] per work item, dA and dD through one partial per
    /// batch row, all reduced in a fixed order (results do not depend on the thread count).
    @inlinable public static func selectiveScanBackward<T: KernelScalar>(
        u: UnsafePointer<T>, delta: UnsafePointer<T>, A: UnsafePointer<T>, Bm: UnsafePointer<T>, Cm: UnsafePointer<T>,
        skip: UnsafePointer<T>?, dy: UnsafePointer<T>,
        du: UnsafeMutablePointer<T>, dDelta: UnsafeMutablePointer<T>, dA: UnsafeMutablePointer<T>,
        dB: UnsafeMutablePointer<T>, dC: UnsafeMutablePointer<T>, dSkip: UnsafeMutablePointer<T>?,
        B: Int, L: Int, D: Int, N: Int, channelBlock: Int = defaultChannelBlock
    ) {
        let blocks = (D + channelBlock - 1) / channelBlock
        let items = B * blocks
        // partial dB, dC per item: [items, L, 2N]; partial dA, dD per batch row: [B, D, N + 1].
        let partialBC = UnsafeMutablePointer<T>.allocate(capacity: items * L * 2 * N)
        let partialAD = UnsafeMutablePointer<T>.allocate(capacity: B * D * (N + 1))
        defer { partialBC.deallocate(); partialAD.deallocate() }
        partialBC.initialize(repeating: 0, count: items * L * 2 * N)
        partialAD.initialize(repeating: 0, count: B * D * (N + 1))
        // scratch: states [L, N], their decays exp(Δ_t A) [L, N] (kept so the walk back does not evaluate exp again:
        // it was half the backward's exps), then g [N].
        Parallel.forEachItem(items, totalWork: B * L * D * N * 8, scratch: (2 * L + 1) * N, T.self) { item, scratch in
            let b = item / blocks, block = item % blocks
            let states = scratch, decays = scratch + L * N, g = scratch + 2 * L * N
            let pBC = partialBC + item * L * 2 * N
            for d in block * channelBlock..<Swift.min(D, (block + 1) * channelBlock) {
                let Ad = A + d * N
                let Dd: T = skip?[d] ?? 0
                // Recompute h_t for this channel.
                for t in 0..<L {
                    let i = (b * L + t) * D + d
                    let dt = delta[i], dtu = dt * u[i]
                    let Bt = Bm + (b * L + t) * N, ht = states + t * N, at = decays + t * N
                    for n in 0..<N {
                        let previous: T = t > 0 ? ht[n - N] : 0
                        at[n] = T.kernelExp(dt * Ad[n])
                        ht[n] = at[n] * previous + dtu * Bt[n]
                    }
                }
                g.update(repeating: 0, count: N)
                let pA = partialAD + (b * D + d) * (N + 1)
                var dD: T = 0
                for t in stride(from: L - 1, through: 0, by: -1) {
                    let i = (b * L + t) * D + d
                    let dt = delta[i], ut = u[i], dyt = dy[i]
                    let Bt = Bm + (b * L + t) * N, Ct = Cm + (b * L + t) * N
                    let ht = states + t * N, at = decays + t * N
                    let pB = pBC + t * 2 * N, pC = pB + N
                    var sumGB: T = 0, sumDelta: T = 0
                    for n in 0..<N {
                        let a = at[n]
                        let previous: T = t > 0 ? ht[n - N] : 0
                        let gn = g[n] + dyt * Ct[n]
                        pC[n] += dyt * ht[n]
                        pB[n] += gn * dt * ut
                        sumGB += gn * Bt[n]
                        let gaPrev = gn * a * previous
                        sumDelta += gaPrev * Ad[n] + gn * ut * Bt[n]
                        pA[n] += gaPrev * dt
                        g[n] = gn * a
                    }
                    du[i] = dt * sumGB + Dd * dyt
                    dDelta[i] = sumDelta
                    dD += dyt * ut
                }
                pA[N] = dD
            }
        }
        // Reduce dB, dC over channel blocks (in block order) and dA, dD over batch rows.
        dB.update(repeating: 0, count: B * L * N); dC.update(repeating: 0, count: B * L * N)
        for b in 0..<B {
            for block in 0..<blocks {
                let pBC = partialBC + (b * blocks + block) * L * 2 * N
                for t in 0..<L {
                    let pB = pBC + t * 2 * N, pC = pB + N, o = (b * L + t) * N
                    for n in 0..<N { dB[o + n] += pB[n]; dC[o + n] += pC[n] }
                }
            }
        }
        dA.update(repeating: 0, count: D * N)
        dSkip?.update(repeating: 0, count: D)
        for b in 0..<B {
            for d in 0..<D {
                let pA = partialAD + (b * D + d) * (N + 1)
                for n in 0..<N { dA[d * N + n] += pA[n] }
                dSkip?[d] += pA[N]
            }
        }
    }

    /// The naive sequential recurrence (mamba-minimal's `selective_scan`): Δ ⊙ A and Δ ⊙ B ⊙ u for every (b, t, d, n),
    /// then one state update per step. Oracle for `selectiveScanForward`; returns y [B, L, D].
    public static func selectiveScanReference<T: KernelScalar>(
        u: [T], delta: [T], A: [T], Bm: [T], Cm: [T], skip: [T]?, B: Int, L: Int, D: Int, N: Int
    ) -> [T] {
        var y = [T](repeating: 0, count: B * L * D)
        for b in 0..<B {
            var h = [T](repeating: 0, count: D * N)
            for t in 0..<L {
                for d in 0..<D {
                    let i = (b * L + t) * D + d
                    var acc: T = 0
                    for n in 0..<N {
                        let deltaA = T.exp(delta[i] * A[d * N + n])
                        let deltaBu = delta[i] * Bm[(b * L + t) * N + n] * u[i]
                        h[d * N + n] = deltaA * h[d * N + n] + deltaBu
                        acc += h[d * N + n] * Cm[(b * L + t) * N + n]
                    }
                    y[i] = acc + (skip?[d] ?? 0) * u[i]
                }
            }
        }
        return y
    }

    // MARK: S4D convolution kernel

    /// The S4D kernel (Gu et al. 2022, state-spaces/s4 models/s4/s4d.py `S4DKernel`) with zero-order hold, for H
    /// channels of M = N/2 complex modes (the conjugate halves give the factor 2):
    ///   A = −exp(logAReal) + i·aImag,  Δ = exp(logDt[h]),  W = C · (exp(ΔA) − 1) / A,  K[h, l] = 2 Re Σ_n W_n exp(ΔA_n · l).
    /// Written in conv-weight order for `causalConv1dForward`: weight[h, k] = K[h, L−1−k]. c is [H, M, 2] (re, im).
    @inlinable public static func s4dKernelForward<T: KernelScalar>(
        logDt: UnsafePointer<T>, logAReal: UnsafePointer<T>, aImag: UnsafePointer<T>, c: UnsafePointer<T>,
        weight: UnsafeMutablePointer<T>, H: Int, M: Int, L: Int
    ) {
        Parallel.forRows(H, workPerRow: M * L * 8) { rows in
            for h in rows {
                let w = weight + h * L
                w.update(repeating: 0, count: L)
                let dt = T.exp(logDt[h])
                for n in 0..<M {
                    let i = h * M + n
                    let (ar, ai) = (-T.exp(logAReal[i]), aImag[i])
                    let (zr, zi) = (dt * ar, dt * ai)
                    // W = C · (e^z − 1) / A
                    let (er, ei) = (T.exp(zr) * T.cos(zi) - 1, T.exp(zr) * T.sin(zi))
                    let (nr, ni) = (c[2 * i] * er - c[2 * i + 1] * ei, c[2 * i] * ei + c[2 * i + 1] * er)
                    let a2 = ar * ar + ai * ai
                    let (wr, wi) = ((nr * ar + ni * ai) / a2, (ni * ar - nr * ai) / a2)
                    for l in 0..<L {
                        let m = T.exp(zr * T(l)), angle = zi * T(l)
                        w[L - 1 - l] += 2 * m * (wr * T.cos(angle) - wi * T.sin(angle))
                    }
                }
            }
        }
    }

    /// Gradients of `s4dKernelForward` given dWeight [H, L] (conv-weight order). Written, not accumulated. With
    /// F = Σ_l 2 dK_l · C (e^{ΔA} − 1)/A · e^{ΔA l} (holomorphic in C and A; a real parameter x of Re F gets Re ∂F/∂x,
    /// an imaginary part gets −Im ∂F/∂x), S = 2 Σ_l dK_l e^{ΔA l}, U = 2 Σ_l dK_l · l · e^{ΔA l}, E = e^{ΔA}:
    ///   ∂F/∂C = (E − 1)/A · S,  ∂F/∂A = C (Δ E A − E + 1)/A² · S + W Δ U,  ∂F/∂Δ = C E S + W A U.
    @inlinable public static func s4dKernelBackward<T: KernelScalar>(
        logDt: UnsafePointer<T>, logAReal: UnsafePointer<T>, aImag: UnsafePointer<T>, c: UnsafePointer<T>,
        dWeight: UnsafePointer<T>, dLogDt: UnsafeMutablePointer<T>, dLogAReal: UnsafeMutablePointer<T>,
        dAImag: UnsafeMutablePointer<T>, dC: UnsafeMutablePointer<T>, H: Int, M: Int, L: Int
    ) {
        Parallel.forRows(H, workPerRow: M * L * 8) { rows in
            for h in rows {
                let dw = dWeight + h * L
                let dt = T.exp(logDt[h])
                var dDt: T = 0
                for n in 0..<M {
                    let i = h * M + n
                    let (ar, ai) = (-T.exp(logAReal[i]), aImag[i])
                    let (zr, zi) = (dt * ar, dt * ai)
                    var (sr, si, ur, ui): (T, T, T, T) = (0, 0, 0, 0)
                    for l in 0..<L {
                        let g = 2 * dw[L - 1 - l], m = T.exp(zr * T(l)), angle = zi * T(l)
                        let (pr, pi) = (m * T.cos(angle), m * T.sin(angle))
                        sr += g * pr; si += g * pi
                        ur += g * T(l) * pr; ui += g * T(l) * pi
                    }
                    let (cr, ci) = (c[2 * i], c[2 * i + 1])
                    let (Er, Ei) = (T.exp(zr) * T.cos(zi), T.exp(zr) * T.sin(zi))
                    let a2 = ar * ar + ai * ai
                    // q = (E − 1)/A
                    let (qr, qi) = (((Er - 1) * ar + Ei * ai) / a2, (Ei * ar - (Er - 1) * ai) / a2)
                    // ∂F/∂C = q · S
                    let (fcr, fci) = (qr * sr - qi * si, qr * si + qi * sr)
                    dC[2 * i] = fcr; dC[2 * i + 1] = -fci
                    // W = C q
                    let (wr, wi) = (cr * qr - ci * qi, cr * qi + ci * qr)
                    // (Δ E A − E + 1)/A² = (Δ E − q)/A
                    let (tr, ti) = (dt * Er - qr, dt * Ei - qi)
                    let (rr, ri) = ((tr * ar + ti * ai) / a2, (ti * ar - tr * ai) / a2)
                    // C · r · S + W Δ U
                    let (crr, cri) = (cr * rr - ci * ri, cr * ri + ci * rr)
                    let faR = crr * sr - cri * si + dt * (wr * ur - wi * ui)
                    let faI = crr * si + cri * sr + dt * (wr * ui + wi * ur)
                    dLogAReal[i] = faR * ar      // a_r = −exp(logAReal): ∂a_r/∂logAReal = a_r
                    dAImag[i] = -faI
                    // ∂F/∂Δ = C E S + W A U (real part)
                    let (ceR, ceI) = (cr * Er - ci * Ei, cr * Ei + ci * Er)
                    let (waR, waI) = (wr * ar - wi * ai, wr * ai + wi * ar)
                    dDt += (ceR * sr - ceI * si) + (waR * ur - waI * ui)
                }
                dLogDt[h] = dDt * dt
            }
        }
    }

    /// The S4D kernel by its definition in natural lag order, K[h, l] (oracle for `s4dKernelForward`), computed with
    /// the discrete recurrence x_l = e^{ΔA} x_{l−1}, x_0 = (e^{ΔA} − 1)/A (impulse response), K = 2 Re(C x).
    public static func s4dKernelReference(logDt: [Double], logAReal: [Double], aImag: [Double], c: [Double], H: Int, M: Int, L: Int) -> [Double] {
        var k = [Double](repeating: 0, count: H * L)
        for h in 0..<H {
            let dt = Double.exp(logDt[h])
            for n in 0..<M {
                let i = h * M + n
                let (ar, ai) = (-Double.exp(logAReal[i]), aImag[i])
                let (Er, Ei) = (Double.exp(dt * ar) * Double.cos(dt * ai), Double.exp(dt * ar) * Double.sin(dt * ai))
                let a2 = ar * ar + ai * ai
                var (xr, xi) = (((Er - 1) * ar + Ei * ai) / a2, (Ei * ar - (Er - 1) * ai) / a2)
                for l in 0..<L {
                    k[h * L + l] += 2 * (c[2 * i] * xr - c[2 * i + 1] * xi)
                    (xr, xi) = (Er * xr - Ei * xi, Er * xi + Ei * xr)
                }
            }
        }
        return k
    }
}
