// Loading a checkpoint into existing tensors (a module's state dict, `[String: Tensor]` from LMNN) by name, the
// way torch's `load_state_dict(strict=)` does: a report names missing, unexpected and wrong-shape keys with hints
// (a stray prefix, a transposed weight, a near-miss name), and values are copied in place. Strict mode copies
// nothing unless every key matches (mlx PR #337: typos must not silently load nothing). Never imports LMNN.
import LMTensor

/// What matched and what did not when loading a checkpoint into a state dict.
public struct StateDictLoadReport: CustomStringConvertible, Sendable {
    /// A key present on both sides whose shapes differ.
    public struct ShapeMismatch: Equatable, Sendable {
        public let key: String
        public let expected: [Int]
        public let found: [Int]
    }

    /// The checkpoint file.
    public let file: String
    /// Keys whose values were copied (sorted).
    public internal(set) var loaded: [String] = []
    /// Keys the state dict expects but the file lacks (sorted).
    public internal(set) var missing: [String] = []
    /// Keys in the file the state dict does not have (sorted).
    public internal(set) var unexpected: [String] = []
    /// Keys on both sides with different shapes (sorted by key).
    public internal(set) var shapeMismatches: [ShapeMismatch] = []
    /// Suggestions derived from the mismatches, e.g. a prefix to strip.
    public internal(set) var hints: [String] = []

    /// True when every expected key was found with the right shape and the file had nothing else.
    public var isExact: Bool { missing.isEmpty && unexpected.isEmpty && shapeMismatches.isEmpty }

    public var description: String {
        var lines = ["\(file): \(loaded.count) tensors loaded, \(missing.count) missing, \(unexpected.count) unexpected, \(shapeMismatches.count) with the wrong shape"]
        func list(_ title: String, _ keys: [String]) {
            guard !keys.isEmpty else { return }
            let shown = keys.prefix(20).map { "\"\($0)\"" }.joined(separator: ", ")
            lines.append("  \(title) (\(keys.count)): \(shown)\(keys.count > 20 ? ", …" : "")")
        }
        list("missing from the file", missing)
        list("unexpected in the file", unexpected)
        for mismatch in shapeMismatches.prefix(20) {
            lines.append("  wrong shape: \"\(mismatch.key)\" expected \(mismatch.expected), file has \(mismatch.found)")
        }
        for hint in hints { lines.append("  hint: \(hint)") }
        return lines.joined(separator: "\n")
    }
}

/// Thrown by a strict load whose report is not exact; nothing was copied.
public struct StateDictLoadError: Error, CustomStringConvertible, Sendable {
    public let report: StateDictLoadReport
    public var description: String { "strict load failed: " + report.description }
}

/// Copies the tensors of `file` into the tensors of `stateDict` with the same names (converting the stored dtype
/// to each destination's float32/float64, honouring its strides).
///
/// - strict: `true` throws `StateDictLoadError` (copying nothing) unless the names and shapes match exactly;
///   `false` copies every key that matches by name and shape and reports the rest.
/// - optional: keys of `stateDict` the file may lack without that being an error (a head tied to the embedding).
@discardableResult
public func loadStateDict(_ stateDict: [String: Tensor], from file: SafetensorsFile, strict: Bool = true,
                          optional: Set<String> = []) throws -> StateDictLoadReport {
    try load(stateDict, names: file.names, source: file.path, strict: strict, optional: optional,
             shape: { file.entry($0)?.shape }, copy: { name, destination in copy(file.entry(name)!, of: file, into: destination) })
}

/// Copies `tensors` (any dtype, any strides) into the tensors of `stateDict` with the same names, with the same
/// checks and report as the file form; `source` names where the tensors came from in the report.
@discardableResult
public func loadStateDict(_ stateDict: [String: Tensor], from tensors: [String: Tensor], source: String, strict: Bool = true,
                          optional: Set<String> = []) throws -> StateDictLoadReport {
    try load(stateDict, names: tensors.keys.sorted(), source: source, strict: strict, optional: optional,
             shape: { tensors[$0]?.shape }, copy: { name, destination in
        noGrad {
            let values = tensors[name]!.contiguous().to(destination.dtype)
            precondition(destination.isContiguous, "loadStateDict: destination '\(name)' is not contiguous")
            let byteSize = destination.dtype.byteSize
            (destination.storage.base + destination.offset * byteSize)
                .copyMemory(from: values.storage.base + values.offset * byteSize, byteCount: values.count * byteSize)
        }
    })
}

/// The one load path: matches names and shapes, builds the report (with hints), then copies unless strict fails.
private func load(_ stateDict: [String: Tensor], names: [String], source: String, strict: Bool, optional: Set<String>,
                  shape: (String) -> [Int]?, copy: (String, Tensor) -> Void) throws -> StateDictLoadReport {
    var report = StateDictLoadReport(file: source)
    var toCopy: [(String, Tensor)] = []
    for key in stateDict.keys.sorted() {
        let destination = stateDict[key]!
        guard let found = shape(key) else {
            if !optional.contains(key) { report.missing.append(key) }
            continue
        }
        if found != destination.shape {
            report.shapeMismatches.append(.init(key: key, expected: destination.shape, found: found))
        } else {
            toCopy.append((key, destination))
        }
    }
    report.unexpected = names.filter { stateDict[$0] == nil }
    report.hints = loadHints(report, matchedCount: toCopy.count)
    if strict && !report.isExact { throw StateDictLoadError(report: report) }
    for (name, destination) in toCopy {
        copy(name, destination)
        report.loaded.append(name)
    }
    return report
}

/// Opens `path` and loads it into `stateDict` (see `loadStateDict(_:from:strict:)`).
@discardableResult
public func loadStateDict(_ stateDict: [String: Tensor], fromFile path: String, strict: Bool = true) throws -> StateDictLoadReport {
    try loadStateDict(stateDict, from: SafetensorsFile(path: path), strict: strict)
}

/// Decodes `entry` into `destination` in place (same shape checked by the caller).
func copy(_ entry: SafetensorsEntry, of file: SafetensorsFile, into destination: Tensor) {
    let count = entry.elementCount
    guard count > 0 else { return }
    if destination.dtype.isLowPrecision {
        // Decoded (or copied, for the same half type) as a tensor of that dtype, then stored bit for bit.
        precondition(destination.isContiguous, "loadStateDict: a float16/bfloat16 destination must be contiguous")
        let decoded = file.tensor(for: entry, as: destination.dtype)
        destination.halfBits().update(from: decoded.halfBits(), count: count)
        return
    }
    file.withRawBytes(of: entry) { raw in
        let source = raw.baseAddress!
        if destination.isContiguous {
            switch destination.dtype {
            case .float32: decodeElements(entry.dtype, from: source, count: count, into: destination.pointer(Float.self))
            case .float64: decodeElements(entry.dtype, from: source, count: count, into: destination.pointer(Double.self))
            default: unsupportedDType()
            }
            return
        }
        switch destination.dtype {
        case .float32: scatterDecoded(entry, source, into: destination, as: Float.self)
        case .float64: scatterDecoded(entry, source, into: destination, as: Double.self)
        default: unsupportedDType()
        }
    }
}

/// Decodes into a row-major buffer, then writes it through `destination`'s strides.
private func scatterDecoded<T: BinaryFloatingPoint & KernelScalar>(_ entry: SafetensorsEntry, _ source: UnsafeRawPointer,
                                                                   into destination: Tensor, as _: T.Type) {
    let count = entry.elementCount
    let values = UnsafeMutablePointer<T>.allocate(capacity: count)
    defer { values.deallocate() }
    decodeElements(entry.dtype, from: source, count: count, into: values)
    let base = destination.pointer(T.self)
    let shape = destination.shape, strides = destination.strides
    var index = [Int](repeating: 0, count: shape.count)
    var offset = 0
    for i in 0..<count {
        base[offset] = values[i]
        var axis = shape.count - 1
        while axis >= 0 {
            index[axis] += 1
            offset += strides[axis]
            if index[axis] < shape[axis] { break }
            offset -= strides[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}

/// Suggestions for the usual causes of a mismatch.
func loadHints(_ report: StateDictLoadReport, matchedCount: Int) -> [String] {
    var hints: [String] = []
    // A prefix on one side only ("model.", "transformer.", "module." from DataParallel).
    var fileExtra: [String: Int] = [:], modelExtra: [String: Int] = [:]
    for key in report.missing {
        for other in report.unexpected where other.count > key.count && other.hasSuffix("." + key) {
            fileExtra[String(other.dropLast(key.count)), default: 0] += 1
        }
        for other in report.unexpected where key.count > other.count && key.hasSuffix("." + other) {
            modelExtra[String(key.dropLast(other.count)), default: 0] += 1
        }
    }
    if let (prefix, n) = fileExtra.max(by: { $0.value < $1.value }) {
        hints.append("\(n) file keys are expected keys with the prefix \"\(prefix)\" (e.g. from a wrapper module): strip it from the file's names")
    }
    if let (prefix, n) = modelExtra.max(by: { $0.value < $1.value }) {
        hints.append("\(n) expected keys are file keys with the prefix \"\(prefix)\": the checkpoint was saved from a sub-module; add the prefix when loading")
    }
    // Shapes: transposed weights (GPT-2 Conv1D stores [in, out]) and config mismatches.
    let transposed = report.shapeMismatches.filter { $0.expected.count == 2 && $0.found == $0.expected.reversed() }
    if let example = transposed.first {
        hints.append("\(transposed.count) weights look transposed (e.g. \"\(example.key)\": \(example.found) vs \(example.expected)); checkpoints from layers storing [in, out] (GPT-2's Conv1D) need a transpose")
    }
    let others = report.shapeMismatches.filter { !($0.expected.count == 2 && $0.found == $0.expected.reversed()) }
    if let example = others.first {
        hints.append("shapes differ for \(others.count) keys (e.g. \"\(example.key)\": model \(example.expected), file \(example.found)): the model configuration (sizes, vocabulary) does not match the one the checkpoint was trained with")
    }
    // Near-miss names.
    if fileExtra.isEmpty && modelExtra.isEmpty {
        for key in report.missing.prefix(5) {
            if let close = report.unexpected.min(by: { editDistance(key, $0) < editDistance(key, $1) }), editDistance(key, close) <= 3 {
                hints.append("\"\(key)\" is missing but the file has \"\(close)\": a renamed parameter?")
            }
        }
    }
    if matchedCount == 0 && report.shapeMismatches.isEmpty && !report.missing.isEmpty && !report.unexpected.isEmpty && hints.isEmpty {
        hints.append("no key of the file matches the model: is this the checkpoint for this model?")
    }
    return hints
}

/// Levenshtein distance over Unicode scalars (keys are short).
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
    if x.isEmpty || y.isEmpty { return max(x.count, y.count) }
    var previous = Array(0...y.count), current = previous
    for i in 1...x.count {
        current[0] = i
        for j in 1...y.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[y.count]
}
