// float32 ↔ bfloat16 / float16 conversion, IEEE round-to-nearest-even, on raw buffers. Half values travel as their
// UInt16 bit patterns (the storage format of safetensors, torch and mixed-precision tensors).
// - bfloat16 is the top half of a float32: rounding adds 0x7FFF plus the lowest kept bit, then truncates. That formula
//   would turn a NaN whose payload sits in the low bits into ±inf, so NaN is mapped to the quiet NaN with its sign and
//   top payload bits (torch/c10 `round_to_nearest_even` returns 0x7FC0 for every NaN: same class, sign dropped).
// - float16 goes through Swift's `Float16(Float)`, which x86-64-v3 (F16C) compiles to `vcvtps2ph` with the RNE mode:
//   overflow beyond 65520 gives ±inf, values below 2^-25 flush to ±0, subnormals are exact, NaN stays a quiet NaN with
//   its sign. Without F16C (a baseline build) it is a library call, ~15× slower (swift-on-this-machine.md §3).
// Each loop is a plain map over the buffer, which LLVM vectorizes (the NaN test becomes a compare + blend).

public enum HalfPrecision {
    /// The bfloat16 bits of `value`, rounded to nearest even; NaN stays a quiet NaN with its sign.
    @inline(__always) public static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let rounded = UInt16(truncatingIfNeeded: (bits &+ (((bits >> 16) & 1) &+ 0x7FFF)) >> 16)
        return value.isNaN ? UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 : rounded
    }

    /// The float32 value of bfloat16 `bits` (exact).
    @inline(__always) public static func float(bfloat16 bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// The float16 bits of `value`, rounded to nearest even.
    @inline(__always) public static func float16Bits(_ value: Float) -> UInt16 { Float16(value).bitPattern }

    /// The float32 value of float16 `bits` (exact).
    @inline(__always) public static func float(float16 bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }

    /// dst[i] = bfloat16(src[i]) for i in 0..<n.
    public static func toBFloat16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, _ n: Int) {
        for i in 0..<n { dst[i] = bfloat16Bits(src[i]) }
    }

    /// dst[i] = float(bfloat16 src[i]).
    public static func fromBFloat16(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { dst[i] = float(bfloat16: src[i]) }
    }

    /// dst[i] = float16(src[i]).
    public static func toFloat16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, _ n: Int) {
        for i in 0..<n { dst[i] = float16Bits(src[i]) }
    }

    /// dst[i] = float(float16 src[i]).
    public static func fromFloat16(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { dst[i] = float(float16: src[i]) }
    }

    /// One pass of an autocast operand: `half[i]` = the rounded bits of src[i] and `wide[i]` = their float32 value, i.e.
    /// the stored low-precision copy and the float32 the product reads, without a second pass over `half`.
    /// `bfloat16` chooses the format (else float16). `half` may be nil when only the rounded values are needed.
    public static func round(_ src: UnsafePointer<Float>, bfloat16: Bool, half: UnsafeMutablePointer<UInt16>?,
                             wide: UnsafeMutablePointer<Float>, _ n: Int) {
        switch (bfloat16, half) {
        case (true, let h?): for i in 0..<n { let b = bfloat16Bits(src[i]); h[i] = b; wide[i] = float(bfloat16: b) }
        case (true, nil): for i in 0..<n { wide[i] = float(bfloat16: bfloat16Bits(src[i])) }
        case (false, let h?): for i in 0..<n { let v = Float16(src[i]); h[i] = v.bitPattern; wide[i] = Float(v) }
        case (false, nil): for i in 0..<n { wide[i] = Float(Float16(src[i])) }
        }
    }
}
