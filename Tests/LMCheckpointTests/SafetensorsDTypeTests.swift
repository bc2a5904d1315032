// Element conversions: bf16 rounding (nearest even, NaN kept), F16 via F16C, and the float8 decoders' edge values.
import XCTest
@testable import LMCheckpoint
import LMTensor

final class SafetensorsDTypeTests: XCTestCase {
    func testBFloat16RoundsToNearestEvenAndKeepsNaN() {
        XCTAssertEqual(HalfPrecision.bfloat16Bits(1), 0x3F80)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(Float(bitPattern: 0x3F80_8000)), 0x3F80)   // tie, even stays
        XCTAssertEqual(HalfPrecision.bfloat16Bits(Float(bitPattern: 0x3F81_8000)), 0x3F82)   // tie, odd rounds up
        XCTAssertEqual(HalfPrecision.bfloat16Bits(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(.infinity), 0x7F80)
        XCTAssertEqual(HalfPrecision.bfloat16Bits(Float(bitPattern: 0x7F80_0001)) & 0x7FC0, 0x7FC0)  // signalling NaN must not become inf
        XCTAssertEqual(HalfPrecision.bfloat16Bits(Float.greatestFiniteMagnitude), 0x7F80)      // rounds up to inf, like torch
    }

    func testFloat8Decoders() {
        var e4m3: [UInt8] = [0x00, 0x7E, 0x7F, 0x01, 0x38, 0xB8]
        var out = [Float](repeating: 0, count: e4m3.count)
        decodeElements(.float8E4M3, from: &e4m3, count: e4m3.count, into: &out)
        XCTAssertEqual(out[0], 0)
        XCTAssertEqual(out[1], 448)              // largest finite
        XCTAssertTrue(out[2].isNaN)
        XCTAssertEqual(out[3], 0.001953125)      // smallest subnormal 2^-9
        XCTAssertEqual(out[4], 1)
        XCTAssertEqual(out[5], -1)
        var e5m2: [UInt8] = [0x3C, 0x7B, 0x7C, 0x01]
        out = [Float](repeating: 0, count: e5m2.count)
        decodeElements(.float8E5M2, from: &e5m2, count: e5m2.count, into: &out)
        XCTAssertEqual(out[0], 1)
        XCTAssertEqual(out[1], 57344)
        XCTAssertEqual(out[2], .infinity)
        XCTAssertEqual(out[3], Float(sign: .plus, exponent: -16, significand: 1))
    }

    func testOrderMatchesTheRustDTypeEnum() {
        // Rust writer order (descending): U64, I64, F64, F32, U32, I32, BF16, F16, U16, I16, F8_E4M3, F8_E5M2, I8, U8, BOOL.
        let descending = SafetensorsDType.allCases.sorted(by: >).map(\.rawValue)
        XCTAssertEqual(descending, ["U64", "I64", "F64", "F32", "U32", "I32", "BF16", "F16", "U16", "I16", "F8_E4M3", "F8_E5M2", "I8", "U8", "BOOL"])
    }
}
