// The element types of the safetensors format and their conversions to and from Float/Double.
// Decoding covers every dtype of safetensors 0.4-0.8 except the sub-byte F4/F6 and F8_E8M0 types; encoding writes
// F64, F32, F16 and BF16 (round to nearest even, as torch does). Follows huggingface/safetensors: safetensors/src/tensor.rs.

import LMTensor

/// A safetensors element type, spelled as in the file header (`"F32"`, `"BF16"`, …).
///
/// The declaration order is the Rust library's `Dtype` order; its writer stores tensors by descending dtype and
/// then by name, and `SafetensorsWriter` does the same so files come out byte-identical.
public enum SafetensorsDType: String, CaseIterable, Sendable, Comparable {
    case bool = "BOOL"
    case uint8 = "U8"
    case int8 = "I8"
    case float8E5M2 = "F8_E5M2"
    case float8E4M3 = "F8_E4M3"
    case int16 = "I16"
    case uint16 = "U16"
    case float16 = "F16"
    case bfloat16 = "BF16"
    case int32 = "I32"
    case uint32 = "U32"
    case float32 = "F32"
    case float64 = "F64"
    case int64 = "I64"
    case uint64 = "U64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .uint8, .int8, .float8E5M2, .float8E4M3: return 1
        case .int16, .uint16, .float16, .bfloat16: return 2
        case .int32, .uint32, .float32: return 4
        case .float64, .int64, .uint64: return 8
        }
    }

    /// Whether the type holds floating-point values (`convert --dtype` casts only these; integers pass through).
    public var isFloatingPoint: Bool {
        switch self {
        case .float8E5M2, .float8E4M3, .float16, .bfloat16, .float32, .float64: return true
        default: return false
        }
    }

    /// Whether `SafetensorsWriter` can encode a Float tensor into this type.
    public var isWritableFromFloat: Bool { self == .float32 || self == .float16 || self == .bfloat16 || self == .float64 }

    /// Position in the Rust library's `Dtype` enum (the writer's sort key).
    var rank: Int { SafetensorsDType.allCases.firstIndex(of: self)! }

    public static func < (a: SafetensorsDType, b: SafetensorsDType) -> Bool { a.rank < b.rank }
}

extension DType {
    /// The tensor dtype that holds a safetensors float type unchanged (F32, F64, F16, BF16), or nil.
    public init?(_ stored: SafetensorsDType) {
        switch stored {
        case .float32: self = .float32
        case .float64: self = .float64
        case .float16: self = .float16
        case .bfloat16: self = .bfloat16
        default: return nil
        }
    }
}

// MARK: - Decoding

/// float8 e4m3fn (the "fn" variant torch and safetensors use): bias 7, no infinities, 0x7F/0xFF are NaN.
let float8E4M3Table: [Float] = (0..<256).map { (b: Int) -> Float in
    let sign: Float = b & 0x80 != 0 ? -1 : 1
    let exponent = (b >> 3) & 0xF, mantissa = b & 7
    if exponent == 0xF && mantissa == 7 { return .nan }
    if exponent == 0 { return sign * Float(mantissa) / 8 * Float(sign: .plus, exponent: -6, significand: 1) }
    return sign * (1 + Float(mantissa) / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
}

/// Converts `count` little-endian elements of `dtype` at `source` (any alignment) to `T`.
/// Integers convert with rounding to nearest (|i64| > 2^24 loses precision in Float, as in torch's `.float()`).
func decodeElements<T: BinaryFloatingPoint>(_ dtype: SafetensorsDType, from source: UnsafeRawPointer, count: Int,
                                            into destination: UnsafeMutablePointer<T>) {
    switch dtype {
    case .float32:
        for i in 0..<count { destination[i] = T(source.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)) }
    case .float64:
        for i in 0..<count { destination[i] = T(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
    case .float16:
        for i in 0..<count { destination[i] = T(Float(source.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self))) }
    case .bfloat16:
        for i in 0..<count {
            destination[i] = T(HalfPrecision.float(bfloat16: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        }
    case .float8E5M2:
        // e5m2 is the top byte of an IEEE half.
        for i in 0..<count {
            let bits = source.load(fromByteOffset: i, as: UInt8.self)
            destination[i] = T(Float(Float16(bitPattern: UInt16(bits) << 8)))
        }
    case .float8E4M3:
        float8E4M3Table.withUnsafeBufferPointer { table in
            for i in 0..<count { destination[i] = T(table[Int(source.load(fromByteOffset: i, as: UInt8.self))]) }
        }
    case .bool:
        for i in 0..<count { destination[i] = source.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
    case .uint8:
        for i in 0..<count { destination[i] = T(source.load(fromByteOffset: i, as: UInt8.self)) }
    case .int8:
        for i in 0..<count { destination[i] = T(source.load(fromByteOffset: i, as: Int8.self)) }
    case .int16:
        for i in 0..<count { destination[i] = T(Int16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
    case .uint16:
        for i in 0..<count { destination[i] = T(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
    case .int32:
        for i in 0..<count { destination[i] = T(Int32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
    case .uint32:
        for i in 0..<count { destination[i] = T(UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
    case .int64:
        for i in 0..<count { destination[i] = T(Int64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
    case .uint64:
        for i in 0..<count { destination[i] = T(UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))) }
    }
}

// MARK: - Encoding

/// Writes `count` Float values as `dtype` (F32, F64, F16 or BF16) to `destination`.
func encodeElements(_ values: UnsafePointer<Float>, count: Int, as dtype: SafetensorsDType, into destination: UnsafeMutableRawPointer) {
    switch dtype {
    case .float32:
        destination.copyMemory(from: values, byteCount: 4 * count)
    case .float64:
        for i in 0..<count { destination.storeBytes(of: Double(values[i]), toByteOffset: 8 * i, as: Double.self) }
    case .float16:
        for i in 0..<count { destination.storeBytes(of: Float16(values[i]), toByteOffset: 2 * i, as: Float16.self) }
    case .bfloat16:
        for i in 0..<count { destination.storeBytes(of: HalfPrecision.bfloat16Bits(values[i]), toByteOffset: 2 * i, as: UInt16.self) }
    default:
        preconditionFailure("encodeElements: \(dtype.rawValue) is not a float output type (checked by the writer)")
    }
}

/// Writes `count` Double values as `dtype` (F64 exactly; F32/F16/BF16 through Float).
func encodeElements(_ values: UnsafePointer<Double>, count: Int, as dtype: SafetensorsDType, into destination: UnsafeMutableRawPointer) {
    if dtype == .float64 {
        destination.copyMemory(from: values, byteCount: 8 * count)
        return
    }
    let floats = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(count, 1))
    defer { floats.deallocate() }
    for i in 0..<count { floats[i] = Float(values[i]) }
    encodeElements(UnsafePointer(floats), count: count, as: dtype, into: destination)
}
