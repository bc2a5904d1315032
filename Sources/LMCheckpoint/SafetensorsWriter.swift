// Writing safetensors files byte-for-byte like the Rust writer (huggingface/safetensors: safetensors/src/tensor.rs
// `prepare`/`serialize`): tensors ordered by descending dtype then name, compact JSON header padded with spaces to a
// multiple of 8 so every tensor stays aligned, `__metadata__` first (its keys sorted; Rust's order is a hash order).
// Writes are atomic (_LMSupport's AtomicFileWriter: temporary file in the destination directory, fsync, rename, fsync
// of the directory).
import _LMSupport
import LMTensor

/// Builds a safetensors file from float tensors (encoded as F32, F16, BF16 or F64) and stored entries copied
/// unchanged from another file (how `lmkit safetensors convert` keeps integer tensors exact).
///
/// ```swift
/// var writer = SafetensorsWriter(metadata: ["format": "pt"])
/// try writer.add("wte.weight", embedding, as: .bfloat16)
/// try writer.write(to: "model.safetensors")
/// ```
public struct SafetensorsWriter {
    enum Payload {
        case tensor(Tensor)
        case stored(SafetensorsFile, SafetensorsEntry)
    }

    struct Item {
        let name: String
        let dtype: SafetensorsDType
        let shape: [Int]
        let payload: Payload
        var byteCount: Int { shape.reduce(dtype.byteSize, *) }
    }

    /// The `__metadata__` map to write; nil writes no `__metadata__` entry.
    public var metadata: [String: String]?
    private var items: [String: Item] = [:]

    public init(metadata: [String: String]? = nil) { self.metadata = metadata }

    /// Adds `tensor` (float32 or float64, any strides) under `name`, to be stored as `dtype` (F32, F16, BF16 or F64;
    /// F16/BF16 round to nearest even like torch's `.to()`). Throws for a duplicate or reserved name or another dtype.
    public mutating func add(_ name: String, _ tensor: Tensor, as dtype: SafetensorsDType = .float32) throws {
        try checkName(name)
        guard dtype.isWritableFromFloat else {
            throw SafetensorsError(.invalidArgument, file: "safetensors writer", "tensor \"\(name)\": cannot store a float tensor as \(dtype.rawValue); use F32, F16, BF16 or F64")
        }
        items[name] = Item(name: name, dtype: dtype, shape: tensor.shape, payload: .tensor(tensor))
    }

    /// Adds an entry of another safetensors file, copying its stored bytes and dtype unchanged.
    public mutating func addStored(_ entry: SafetensorsEntry, from file: SafetensorsFile, as name: String? = nil) throws {
        let name = name ?? entry.name
        try checkName(name)
        items[name] = Item(name: name, dtype: entry.dtype, shape: entry.shape, payload: .stored(file, entry))
    }

    private func checkName(_ name: String) throws {
        guard name != "__metadata__" else { throw SafetensorsError(.invalidArgument, file: "safetensors writer", "\"__metadata__\" is reserved and cannot name a tensor") }
        guard items[name] == nil else { throw SafetensorsError(.invalidArgument, file: "safetensors writer", "tensor \"\(name)\" was added twice") }
    }

    /// Items in file order: descending dtype (Rust `Dtype` order), then name.
    var orderedItems: [Item] {
        items.values.sorted { $0.dtype != $1.dtype ? $0.dtype > $1.dtype : $0.name < $1.name }
    }

    /// The 8-byte length prefix plus the padded JSON header.
    func headerBytes() -> [UInt8] {
        var json: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        func comma() { if !first { json.append(UInt8(ascii: ",")) }; first = false }
        if let metadata {
            comma()
            appendJSONString("__metadata__", to: &json)
            json.append(contentsOf: Array(":{".utf8))
            for (i, key) in metadata.keys.sorted().enumerated() {
                if i > 0 { json.append(UInt8(ascii: ",")) }
                appendJSONString(key, to: &json)
                json.append(UInt8(ascii: ":"))
                appendJSONString(metadata[key]!, to: &json)
            }
            json.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for item in orderedItems {
            comma()
            appendJSONString(item.name, to: &json)
            let shape = item.shape.map(String.init).joined(separator: ",")
            json.append(contentsOf: Array(":{\"dtype\":\"\(item.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + item.byteCount)]}".utf8))
            offset += item.byteCount
        }
        json.append(UInt8(ascii: "}"))
        json.append(contentsOf: [UInt8](repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
        var prefix = [UInt8](repeating: 0, count: 8)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { for i in 0..<8 { prefix[i] = $0[i] } }
        return prefix + json
    }

    /// Writes the file atomically: on any failure the destination keeps its old contents (or stays absent) and the
    /// temporary file is removed.
    public func write(to path: String) throws { try write(to: path, failAfterBytes: nil) }

    /// `failAfterBytes` simulates a write that dies part-way (disk full, killed process) for the tests.
    func write(to path: String, failAfterBytes: Int?) throws {
        try rethrowingFileErrors(as: { SafetensorsError(.io, file: path, $0.message) }) {
            let output = try AtomicFileWriter(path: path)
            var budget = failAfterBytes ?? Int.max
            func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
                if bytes.count > budget {
                    try output.write(UnsafeRawBufferPointer(rebasing: bytes[..<budget]))
                    throw SafetensorsError(.io, file: path, "write interrupted (simulated failure)")
                }
                budget -= bytes.count
                try output.write(bytes)
            }

            try headerBytes().withUnsafeBytes { try writeAll($0) }
            for item in orderedItems {
                let byteCount = item.byteCount
                switch item.payload {
                case .stored(let file, let entry):
                    try file.withRawBytes(of: entry) { try writeAll($0) }
                case .tensor(let tensor):
                    var source = tensor.contiguous()
                    // Same element type: write straight from the tensor's memory (a borrowed mapping included), no copy.
                    if DType(item.dtype) == source.dtype {
                        try writeAll(UnsafeRawBufferPointer(start: source.storage.base + source.offset * source.dtype.byteSize, count: byteCount))
                        continue
                    }
                    if source.dtype.isLowPrecision { source = source.to(.float32) }  // then rounded again only if item.dtype is the other half
                    let buffer = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(byteCount, 1), alignment: 64)
                    defer { buffer.deallocate() }
                    switch source.dtype {
                    case .float32: encodeElements(UnsafePointer(source.pointer(Float.self)), count: source.count, as: item.dtype, into: buffer)
                    case .float64: encodeElements(UnsafePointer(source.pointer(Double.self)), count: source.count, as: item.dtype, into: buffer)
                    default: unsupportedDType()
                    }
                    try writeAll(UnsafeRawBufferPointer(start: buffer, count: byteCount))
                }
            }
            try output.commit()
        }
    }
}

/// Writes `tensors` to `path` as safetensors (all stored as `dtype`: F32 by default, or F16/BF16/F64), atomically.
public func saveSafetensors(_ tensors: [String: Tensor], to path: String, metadata: [String: String]? = nil,
                            dtype: SafetensorsDType = .float32) throws {
    var writer = SafetensorsWriter(metadata: metadata)
    for (name, tensor) in tensors { try writer.add(name, tensor, as: dtype) }
    try writer.write(to: path)
}

/// Reads every tensor of `path` as float32 (see `SafetensorsFile.tensor(_:as:)`) with the file's metadata.
public func loadSafetensors(from path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
    let file = try SafetensorsFile(path: path)
    return (file.tensors(), file.metadata)
}
