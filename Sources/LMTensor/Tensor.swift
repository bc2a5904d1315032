// Tensor: a strided view (shape, strides, offset) over reference-counted Storage, plus the autograd hooks.
// Views (reshape of contiguous data, transpose/permute, slice, expand) share storage and copy nothing.
// Compute dtypes are float32 (the product) and float64 (gradient checks). float16 and bfloat16 are storage only
// (mixed precision, Autocast.swift; checkpoints): they convert with `to(_:)`, copy, view and print, and every op that
// computes stops with `unsupportedDType()` naming itself.
@_exported import LMKernels
import Foundation

/// Element type of a tensor's storage.
public enum DType: String, Sendable, Codable {
    case float32, float64
    /// IEEE half (torch.float16) and bfloat16 (torch.bfloat16), stored as their 16-bit patterns.
    case float16, bfloat16
    public var byteSize: Int {
        switch self {
        case .float32: return 4
        case .float64: return 8
        case .float16, .bfloat16: return 2
        }
    }
    /// float16 or bfloat16: storage only, no arithmetic.
    public var isLowPrecision: Bool { self == .float16 || self == .bfloat16 }
}

/// The end of an op that computes in float32/float64 only, reached with float16/bfloat16 storage.
@inline(never) public func unsupportedDType(_ function: String = #function) -> Never {
    preconditionFailure("\(function): float16/bfloat16 tensors are storage only; convert with .to(.float32), or compute in float32 under Autocast")
}

/// Raw bytes owned by LMKit (64-byte aligned, from `BufferPool`) or borrowed from an owner that keeps them alive
/// (e.g. a memory-mapped checkpoint).
public final class Storage: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let byteCount: Int
    private let owner: AnyObject?

    /// Fresh storage; zero-filled unless `zeroed` is false (for outputs an op overwrites completely).
    public init(byteCount: Int, zeroed: Bool = true) {
        self.byteCount = byteCount
        base = BufferPool.shared.take(byteCount)
        if zeroed { base.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount) }
        owner = nil
    }

    /// Wraps memory kept alive by `owner` (not freed by Storage).
    public init(borrowing base: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject) {
        self.base = base
        self.byteCount = byteCount
        self.owner = owner
    }

    deinit { if owner == nil { BufferPool.shared.give(base, byteCount) } }
}

/// A cache of freed tensor buffers keyed by size. Training allocates the same activation sizes every step; without
/// reuse each large buffer is a fresh mmap whose page faults cost more than the op itself (measured: softmax
/// forward+backward on 8192×768 spent most of its time in the kernel's page-fault handler).
/// The cache holds at most twice the peak of bytes in use (at least 256 MiB, at most `maximumCachedBytes`): a step of
/// fixed shapes fits, and shapes that change every step (a mixture of experts' per-expert rows) cannot make it grow
/// without bound — with only the fixed 4 GiB cap, an 800-step MoE run kept 2 GB of stale sizes. Over the cap, the size
/// used least recently is returned to the system first.
public final class BufferPool: @unchecked Sendable {
    public static let shared = BufferPool()
    /// Upper bound on bytes kept for reuse (default 4 GiB, or LMKIT_POOL_BYTES).
    public var maximumCachedBytes: Int =
        ProcessInfo.processInfo.environment["LMKIT_POOL_BYTES"].flatMap(Int.init) ?? (4 << 30)
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    /// When each size was last taken or given (a counter, not a clock).
    private var lastUse: [Int: Int] = [:]
    private var clock = 0
    private var cachedBytes = 0
    /// Bytes handed out and not yet given back, and their peak.
    private var liveBytes = 0, peakLiveBytes = 0
    private let lock = NSLock()

    /// Sizes are rounded up to 64 bytes below 4 KiB and to 4 KiB above, so near sizes share buffers.
    @inline(__always) static func bucket(_ n: Int) -> Int { n < 4096 ? (Swift.max(n, 1) + 63) & ~63 : (n + 4095) & ~4095 }

    /// The most bytes the cache keeps now.
    var cachedBytesLimit: Int { Swift.min(maximumCachedBytes, Swift.max(2 * peakLiveBytes, 256 << 20)) }

    func take(_ byteCount: Int) -> UnsafeMutableRawPointer {
        let size = BufferPool.bucket(byteCount)
        lock.lock()
        defer { lock.unlock() }
        liveBytes += size
        peakLiveBytes = Swift.max(peakLiveBytes, liveBytes)
        clock += 1
        lastUse[size] = clock
        if let p = free[size]?.popLast() {
            cachedBytes -= size
            return p
        }
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    func give(_ p: UnsafeMutableRawPointer, _ byteCount: Int) {
        let size = BufferPool.bucket(byteCount)
        lock.lock()
        defer { lock.unlock() }
        liveBytes -= size
        clock += 1
        lastUse[size] = clock
        let limit = cachedBytesLimit
        guard size <= limit else { p.deallocate(); return }
        while cachedBytes + size > limit, let stalest = free.keys.min(by: { lastUse[$0, default: 0] < lastUse[$1, default: 0] }) {
            for q in free.removeValue(forKey: stalest)! { q.deallocate(); cachedBytes -= stalest }
        }
        free[size, default: []].append(p)
        cachedBytes += size
    }

    /// Bytes cached for reuse now (for tests and diagnostics).
    public var cachedByteCount: Int { lock.lock(); defer { lock.unlock() }; return cachedBytes }
    /// Bytes of tensor storage in use now (for tests and diagnostics).
    public var liveByteCount: Int { lock.lock(); defer { lock.unlock() }; return liveBytes }

    /// Returns every cached buffer to the system.
    public func drain() {
        lock.lock()
        defer { lock.unlock() }
        for (_, list) in free { for p in list { p.deallocate() } }
        free = [:]
        cachedBytes = 0
    }
}

public final class Tensor: @unchecked Sendable {
    public let storage: Storage
    public let dtype: DType
    public let shape: [Int]
    /// Element strides (may be 0 for broadcast dimensions of an `expand` view).
    public let strides: [Int]
    /// Element offset of index (0, …, 0) into storage.
    public let offset: Int
    /// Whether gradients flow to this tensor. Leaves with `requiresGrad` accumulate into `grad` on `backward()`.
    public var requiresGrad: Bool
    /// Accumulated gradient of a leaf (same shape and dtype).
    public var grad: Tensor?
    /// Called by `backward()` right after this leaf's `grad` received its last contribution of that backward (PyTorch's
    /// `register_post_accumulate_grad_hook`); data-parallel training starts a bucket's allreduce from it.
    public var postAccumulateGradHook: ((Tensor) -> Void)?
    /// The operation that produced this tensor, while the graph is alive.
    public internal(set) var gradNode: GradNode?

    public init(storage: Storage, dtype: DType, shape: [Int], strides: [Int]? = nil, offset: Int = 0, requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        self.storage = storage
        self.dtype = dtype
        self.shape = shape
        self.strides = strides ?? Tensor.contiguousStrides(shape)
        self.offset = offset
        self.requiresGrad = requiresGrad
    }

    /// A new zero-filled contiguous tensor.
    public convenience init(zeros shape: [Int], dtype: DType = .float32, requiresGrad: Bool = false) {
        let n = shape.reduce(1, *)
        self.init(storage: Storage(byteCount: n * dtype.byteSize), dtype: dtype, shape: shape, requiresGrad: requiresGrad)
    }

    /// A new contiguous tensor whose contents are unspecified; for op outputs that are written completely.
    public convenience init(uninitialized shape: [Int], dtype: DType = .float32) {
        let n = shape.reduce(1, *)
        self.init(storage: Storage(byteCount: n * dtype.byteSize, zeroed: false), dtype: dtype, shape: shape)
    }

    /// A float32 tensor holding `values` (row-major) with `shape`.
    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) {
        precondition(values.count == shape.reduce(1, *), "Tensor: \(values.count) values do not fill shape \(shape)")
        self.init(zeros: shape, dtype: .float32, requiresGrad: requiresGrad)
        values.withUnsafeBufferPointer { storage.base.copyMemory(from: $0.baseAddress!, byteCount: values.count * 4) }
    }

    /// A float64 tensor holding `values` (row-major) with `shape`.
    public convenience init(doubles values: [Double], shape: [Int], requiresGrad: Bool = false) {
        precondition(values.count == shape.reduce(1, *), "Tensor: \(values.count) values do not fill shape \(shape)")
        self.init(zeros: shape, dtype: .float64, requiresGrad: requiresGrad)
        values.withUnsafeBufferPointer { storage.base.copyMemory(from: $0.baseAddress!, byteCount: values.count * 8) }
    }

    /// A 0-d float32 tensor.
    public convenience init(scalar: Float) { self.init([scalar], shape: []) }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { strides[i] = s; s *= shape[i] }
        return strides
    }

    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }

    /// True when elements are laid out row-major without gaps (size-1 dimensions may have any stride).
    public var isContiguous: Bool {
        var expected = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// Typed pointer to element (0, …, 0). The dtype must match `T`.
    @inlinable public func pointer<T: KernelScalar>(_: T.Type) -> UnsafeMutablePointer<T> {
        precondition(MemoryLayout<T>.size == dtype.byteSize, "Tensor.pointer: \(T.self) requested from a \(dtype) tensor")
        return storage.base.assumingMemoryBound(to: T.self) + offset
    }

    /// Pointer to element (0, …, 0) as 16-bit patterns, for float16/bfloat16 storage.
    public func halfBits() -> UnsafeMutablePointer<UInt16> {
        precondition(dtype.isLowPrecision, "Tensor.halfBits: a \(dtype) tensor has no 16-bit storage")
        return storage.base.assumingMemoryBound(to: UInt16.self) + offset
    }

    /// Dimension index with negative values counting from the end; stops with the op name if out of range.
    public func axis(_ a: Int, _ op: String) -> Int {
        let r = a < 0 ? a + rank : a
        precondition(r >= 0 && r < Swift.max(rank, 1), "\(op): axis \(a) out of range for shape \(shape)")
        return r
    }

    /// The values as Float, in row-major order (converting from float64 if needed).
    public func toArray() -> [Float] {
        let c = contiguous()
        switch dtype {
        case .float32: return Array(UnsafeBufferPointer(start: c.pointer(Float.self), count: count))
        case .float64: return UnsafeBufferPointer(start: c.pointer(Double.self), count: count).map(Float.init)
        case .float16, .bfloat16: return c.to(.float32).toArray()
        }
    }

    /// The values as Double, in row-major order.
    public func toDoubles() -> [Double] {
        let c = contiguous()
        switch dtype {
        case .float32: return UnsafeBufferPointer(start: c.pointer(Float.self), count: count).map(Double.init)
        case .float64: return Array(UnsafeBufferPointer(start: c.pointer(Double.self), count: count))
        case .float16, .bfloat16: return c.to(.float32).toDoubles()
        }
    }

    /// The single value of a one-element tensor.
    public func item() -> Float {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements, expected 1")
        return toArray()[0]
    }

    /// This tensor without its autograd history: same storage, `requiresGrad == false`.
    public func detach() -> Tensor {
        Tensor(storage: storage, dtype: dtype, shape: shape, strides: strides, offset: offset)
    }

    /// Sets `requiresGrad` and returns self, for chaining: `Tensor.randn([3], generator: g).requiringGrad()`.
    @discardableResult public func requiringGrad(_ flag: Bool = true) -> Tensor { requiresGrad = flag; return self }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = toArray()
        let shown = values.prefix(8).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), dtype: \(dtype), [\(shown)\(values.count > 8 ? ", …" : "")])"
    }
}
