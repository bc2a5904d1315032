// Reading safetensors files (huggingface/safetensors, format in Docs/Formats.md): the header is parsed and validated
// up front like the Rust reader (safetensors/src/tensor.rs `validate`), the file is memory-mapped, and aligned F32
// tensors point straight into the mapping; other dtypes are decoded into new float32 (or float64) tensors.
// It never traps on a bad file: every problem is a SafetensorsError naming the file and the tensor.
// The mapping is copy-on-write (`MappedFile.Access.copyOnWrite`): writing through a borrowed tensor (an optimizer step,
// an in-place op) changes only this process's copy, never the file, and cannot fault as a read-only mapping would.
import _LMSupport
import LMTensor

/// One tensor's description from the header.
public struct SafetensorsEntry: Equatable, Sendable {
    /// The tensor's key, e.g. `blocks.0.attn.qkv.weight`.
    public let name: String
    /// The stored element type.
    public let dtype: SafetensorsDType
    /// The stored shape (`[]` for a scalar).
    public let shape: [Int]
    /// Byte range inside the data section (the `data_offsets` field).
    public let dataOffsets: Range<Int>

    /// Number of elements (product of `shape`, 1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped safetensors file.
///
/// ```swift
/// let file = try SafetensorsFile(path: "model.safetensors")
/// let weight = try file.tensor("wte.weight")      // float32, borrowed from the mapping when stored as aligned F32
/// print(file.metadata["format"] ?? "-")
/// ```
/// Tensors returned by `tensor(_:)` keep the mapping alive; writing into them never changes the file.
public final class SafetensorsFile: @unchecked Sendable {
    /// Header size limit of the Rust reader (`MAX_HEADER_SIZE`); larger headers are rejected the same way.
    public static let maximumHeaderByteCount = 100_000_000

    /// The path the file was opened with (used in every error message).
    public let path: String
    /// The `__metadata__` map (empty when the file has none).
    public let metadata: [String: String]
    /// Whether the header had a `__metadata__` entry at all.
    public let hasMetadata: Bool
    /// All tensors, sorted by name.
    public let entries: [SafetensorsEntry]
    /// Length of the JSON header in bytes (the 8-byte little-endian prefix).
    public let headerByteCount: Int

    let mapping: MappedFile
    private let entryIndex: [String: Int]

    /// Start of the data section (8 + header length) inside the file.
    public var dataSectionOffset: Int { 8 + headerByteCount }

    /// Opens, maps and validates `path`. Throws `SafetensorsError` for an unreadable or malformed file.
    public init(path: String) throws {
        self.path = path
        mapping = try rethrowingFileErrors(as: { SafetensorsError(.io, file: path, $0.message) }) {
            try MappedFile(path: path, access: .copyOnWrite)
        }
        let fileSize = mapping.byteCount
        guard fileSize >= 8, let base = mapping.base else {
            throw SafetensorsError(.truncated, file: path, "file is \(fileSize) bytes, shorter than the 8-byte header length")
        }
        let declared = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(Self.maximumHeaderByteCount) else {
            throw SafetensorsError(.headerLengthPastEnd, file: path,
                                   "header length \(declared) exceeds the 100 MB limit (file is \(fileSize) bytes); this is not a safetensors file or it is corrupt")
        }
        guard Int(declared) <= fileSize - 8 else {
            throw SafetensorsError(.headerLengthPastEnd, file: path,
                                   "header length \(declared) points past the end of the file (\(fileSize - 8) bytes after the length prefix); the file is truncated or not safetensors")
        }
        headerByteCount = Int(declared)
        let headerBytes = UnsafeBufferPointer(start: (base + 8).assumingMemoryBound(to: UInt8.self), count: headerByteCount)
        guard headerByteCount > 0, headerBytes[0] == UInt8(ascii: "{") else {
            let found = headerByteCount == 0 ? "an empty header" : "byte 0x\(String(headerBytes[0], radix: 16))"
            throw SafetensorsError(.invalidHeader, file: path, "the header must be a JSON object starting with '{', found \(found)")
        }
        let header: JSONValue
        do {
            header = try JSONParser.parse(headerBytes)
        } catch let error as JSONParseError {
            throw SafetensorsError(.invalidJSON, file: path, "header JSON is invalid at byte \(error.offset) of \(headerByteCount): \(error.message)")
        }
        guard case .object(let members) = header else {
            throw SafetensorsError(.invalidHeader, file: path, "the header must be a JSON object, found \(header.typeName)")
        }

        var metadata: [String: String] = [:]
        var hasMetadata = false
        var entries: [SafetensorsEntry] = []
        for (key, value) in members {
            if key == "__metadata__" {
                hasMetadata = true
                guard case .object(let pairs) = value else {
                    throw SafetensorsError(.invalidHeader, file: path, "__metadata__ must be an object of strings, found \(value.typeName)")
                }
                for (metaKey, metaValue) in pairs {
                    guard case .string(let text) = metaValue else {
                        throw SafetensorsError(.invalidHeader, file: path, "__metadata__[\"\(metaKey)\"] must be a string, found \(metaValue.typeName)")
                    }
                    metadata[metaKey] = text
                }
                continue
            }
            entries.append(try Self.parseEntry(key, value, file: path))
        }

        // Like the Rust reader: byte ranges sorted by start must tile the data section exactly.
        let dataByteCount = fileSize - 8 - headerByteCount
        var byStart = entries
        byStart.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }
        var expectedStart = 0
        var previous: SafetensorsEntry?
        for entry in byStart {
            let range = entry.dataOffsets
            if range.lowerBound < expectedStart, let previous {
                throw SafetensorsError(.overlappingOffsets, file: path,
                                       "tensor \"\(entry.name)\": data_offsets [\(range.lowerBound), \(range.upperBound)] overlap tensor \"\(previous.name)\" [\(previous.dataOffsets.lowerBound), \(previous.dataOffsets.upperBound)]")
            }
            if range.lowerBound > expectedStart {
                let after = previous.map { "tensor \"\($0.name)\" ends" } ?? "the data section starts"
                throw SafetensorsError(.offsetsOutOfRange, file: path,
                                       "tensor \"\(entry.name)\": data_offsets start at \(range.lowerBound) but \(after) at \(expectedStart); safetensors allows no gaps")
            }
            if range.upperBound > dataByteCount && range.upperBound != byStart.last?.dataOffsets.upperBound {
                throw SafetensorsError(.offsetsOutOfRange, file: path,
                                       "tensor \"\(entry.name)\": data_offsets [\(range.lowerBound), \(range.upperBound)] end past the data section (\(dataByteCount) bytes)")
            }
            expectedStart = range.upperBound
            previous = entry
        }
        if expectedStart > dataByteCount {
            throw SafetensorsError(.truncated, file: path,
                                   "the header describes \(expectedStart) bytes of tensor data but only \(dataByteCount) follow it (file is \(fileSize) bytes, expected \(8 + headerByteCount + expectedStart)); the file is truncated")
        }
        if expectedStart < dataByteCount {
            throw SafetensorsError(.offsetsOutOfRange, file: path,
                                   "tensors cover \(expectedStart) bytes but the data section holds \(dataByteCount); \(dataByteCount - expectedStart) trailing bytes belong to no tensor")
        }

        entries.sort { $0.name < $1.name }
        self.entries = entries
        self.metadata = metadata
        self.hasMetadata = hasMetadata
        var index: [String: Int] = [:]
        for (i, entry) in entries.enumerated() { index[entry.name] = i }
        entryIndex = index
    }

    private static func parseEntry(_ name: String, _ value: JSONValue, file: String) throws -> SafetensorsEntry {
        func fail(_ kind: SafetensorsError.Kind, _ detail: String) -> SafetensorsError {
            SafetensorsError(kind, file: file, "tensor \"\(name)\": \(detail)")
        }
        guard case .object(let fields) = value else { throw fail(.invalidHeader, "expected an object with dtype, shape and data_offsets, found \(value.typeName)") }
        func field(_ key: String) throws -> JSONValue {
            guard let found = fields.first(where: { $0.key == key }) else { throw fail(.invalidHeader, "missing field \"\(key)\"") }
            return found.value
        }
        guard case .string(let dtypeName) = try field("dtype") else { throw fail(.invalidHeader, "\"dtype\" must be a string") }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw fail(.unknownDType, "unknown dtype \"\(dtypeName)\" (LMKit reads \(SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard case .array(let dims) = try field("shape") else { throw fail(.invalidHeader, "\"shape\" must be an array of non-negative integers") }
        let shape = try dims.map { dim -> Int in
            guard let d = dim.nonNegativeInteger else { throw fail(.invalidHeader, "\"shape\" must hold non-negative integers, found \(dim)") }
            return d
        }
        guard case .array(let offsets) = try field("data_offsets"), offsets.count == 2,
              let begin = offsets[0].nonNegativeInteger, let end = offsets[1].nonNegativeInteger else {
            throw fail(.invalidHeader, "\"data_offsets\" must be [begin, end] with non-negative integers")
        }
        guard begin <= end else { throw fail(.offsetsOutOfRange, "data_offsets [\(begin), \(end)] end before they begin") }
        var byteCount = dtype.byteSize
        for d in shape {
            let (product, overflow) = byteCount.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail(.sizeMismatch, "shape \(shape) is too large to address") }
            byteCount = product
        }
        guard byteCount == end - begin else {
            throw fail(.sizeMismatch, "shape \(shape) × \(dtype.rawValue) (\(dtype.byteSize) bytes) needs \(byteCount) bytes but data_offsets [\(begin), \(end)] hold \(end - begin)")
        }
        return SafetensorsEntry(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// Tensor names in sorted order.
    public var names: [String] { entries.map(\.name) }

    /// The header entry for `name`, or nil.
    public func entry(_ name: String) -> SafetensorsEntry? { entryIndex[name].map { entries[$0] } }

    /// Calls `body` with the stored bytes of `entry` (little-endian `entry.dtype` elements; any alignment).
    public func withRawBytes<R>(of entry: SafetensorsEntry, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: mapping.base.map { UnsafeRawPointer($0) + dataSectionOffset + entry.dataOffsets.lowerBound },
                                        count: entry.dataOffsets.count))
    }

    /// Whether `tensor(name)` returns a view of the mapping (an F32 entry whose bytes are 4-byte aligned).
    public func isZeroCopy(_ entry: SafetensorsEntry) -> Bool {
        guard entry.dtype == .float32, let base = mapping.base else { return false }
        return Int(bitPattern: base + dataSectionOffset + entry.dataOffsets.lowerBound) % 4 == 0
    }

    /// The tensor `name` as `dtype` (float32 by default). Aligned F32 data is borrowed from the mapping (no copy);
    /// every other stored type is decoded into a new tensor (integers and bool become 0/1 floats).
    public func tensor(_ name: String, as dtype: DType = .float32) throws -> Tensor {
        guard let entry = entry(name) else {
            throw SafetensorsError(.missingTensor, file: path, "no tensor named \"\(name)\" (the file has \(entries.count) tensors)")
        }
        return tensor(for: entry, as: dtype)
    }

    /// The tensor of a header entry (see `tensor(_:as:)`).
    public func tensor(for entry: SafetensorsEntry, as dtype: DType = .float32) -> Tensor {
        if dtype == .float32, isZeroCopy(entry), let base = mapping.base {
            let storage = Storage(borrowing: base + dataSectionOffset + entry.dataOffsets.lowerBound,
                                  byteCount: entry.dataOffsets.count, owner: mapping)
            return Tensor(storage: storage, dtype: .float32, shape: entry.shape)
        }
        if dtype.isLowPrecision {
            // F16/BF16 entries are copied bit for bit; anything else is decoded to float32 and rounded.
            if DType(entry.dtype) == dtype {
                let result = Tensor(uninitialized: entry.shape, dtype: dtype)
                withRawBytes(of: entry) { raw in
                    if let source = raw.baseAddress { UnsafeMutableRawPointer(result.halfBits()).copyMemory(from: source, byteCount: raw.count) }
                }
                return result
            }
            return tensor(for: entry, as: .float32).to(dtype)
        }
        let result = Tensor(zeros: entry.shape, dtype: dtype)
        withRawBytes(of: entry) { raw in
            guard let source = raw.baseAddress else { return }
            switch dtype {
            case .float32: decodeElements(entry.dtype, from: source, count: entry.elementCount, into: result.pointer(Float.self))
            case .float64: decodeElements(entry.dtype, from: source, count: entry.elementCount, into: result.pointer(Double.self))
            default: unsupportedDType()
            }
        }
        return result
    }

    /// Every tensor, keyed by name (see `tensor(_:as:)`).
    public func tensors(as dtype: DType = .float32) -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for entry in entries { result[entry.name] = tensor(for: entry, as: dtype) }
        return result
    }
}
