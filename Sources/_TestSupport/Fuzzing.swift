// A seeded mutation fuzzer for file readers (issue 12): from a valid file it derives inputs by bit flips, byte
// overwrites with boundary values, truncations, insertions, deletions, duplicated ranges and decimal numbers replaced
// by hostile ones (huge, negative, inf, nan). A reader under test must throw or return a valid result for each; a
// crash kills the test process and a hang times it out. Deterministic per seed so a failure reproduces.
// `make test` runs `defaultIterations` per reader (a few seconds in all); LMKIT_FUZZ_ITERATIONS=N runs N.
import Foundation

/// Seeded mutations of a valid input.
public struct Fuzzer {
    /// Inputs per reader: LMKIT_FUZZ_ITERATIONS when set, else `fallback`.
    public static func iterations(default fallback: Int) -> Int {
        ProcessInfo.processInfo.environment["LMKIT_FUZZ_ITERATIONS"].flatMap(Int.init) ?? fallback
    }

    private var state: UInt64

    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    /// SplitMix64.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (bound > 0).
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    private static let boundaryBytes: [UInt8] = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0x0A, 0x20, 0x22, 0x39, 0x2D]
    private static let hostileNumbers = ["99999999999999999999", "100000000000", "-1", "-5", "0", "1e39", "-1e39",
                                         "inf", "-inf", "nan", "4294967295", "9223372036854775807", "1e12", "2147483648"]

    /// One mutation of `input`; several are stacked with probability 1/3 each.
    public mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        repeat {
            applyOne(&bytes)
        } while below(3) == 0
        return bytes
    }

    private mutating func applyOne(_ bytes: inout [UInt8]) {
        guard !bytes.isEmpty else { bytes = [UInt8(truncatingIfNeeded: next())]; return }
        switch below(8) {
        case 0:  // flip bits
            for _ in 0...below(8) { bytes[below(bytes.count)] ^= UInt8(1) << UInt8(below(8)) }
        case 1:  // boundary byte values
            bytes[below(bytes.count)] = Self.boundaryBytes[below(Self.boundaryBytes.count)]
        case 2:  // truncate
            bytes.removeLast(bytes.count - below(bytes.count))
        case 3:  // insert random bytes
            let at = below(bytes.count + 1)
            bytes.insert(contentsOf: (0..<(1 + below(16))).map { _ in UInt8(truncatingIfNeeded: next()) }, at: at)
        case 4:  // delete a range
            let start = below(bytes.count)
            bytes.removeSubrange(start..<min(bytes.count, start + 1 + below(64)))
        case 5:  // duplicate a range
            let start = below(bytes.count)
            let range = start..<min(bytes.count, start + 1 + below(64))
            bytes.insert(contentsOf: Array(bytes[range]), at: below(bytes.count + 1))
        case 6:  // overwrite 4 or 8 bytes with an extreme integer (binary headers, offsets, ids)
            let width = below(2) == 0 ? 4 : 8
            guard bytes.count >= width else { return }
            let at = below(bytes.count - width + 1)
            let value: UInt64 = [UInt64.max, UInt64(UInt32.max), 1 << 40, 0, next()][below(5)]
            for k in 0..<width { bytes[at + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
        default:  // replace a decimal number with a hostile one (text formats, JSON, headers)
            let digits = bytes.indices.filter { bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }
            guard !digits.isEmpty else { return }
            var start = digits[below(digits.count)], end = start + 1
            while start > 0 && (bytes[start - 1] >= 0x30 && bytes[start - 1] <= 0x39 || bytes[start - 1] == 0x2E || bytes[start - 1] == 0x2D) { start -= 1 }
            while end < bytes.count && (bytes[end] >= 0x30 && bytes[end] <= 0x39 || bytes[end] == 0x2E) { end += 1 }
            bytes.replaceSubrange(start..<end, with: Array(Self.hostileNumbers[below(Self.hostileNumbers.count)].utf8))
        }
    }

    /// Runs `body` on `iterations` mutations of `seedInput`, each written to `path` first when `path` is given.
    /// Returns how many inputs `body` accepted (did not throw), so a test can check the fuzzer reached both outcomes.
    @discardableResult
    public static func run(_ seedInput: [UInt8], seed: UInt64, iterations: Int, writingTo path: String? = nil,
                           _ body: ([UInt8]) throws -> Void) throws -> (accepted: Int, rejected: Int) {
        var fuzzer = Fuzzer(seed: seed)
        var accepted = 0, rejected = 0
        for _ in 0..<iterations {
            let input = fuzzer.mutate(seedInput)
            if let path { try Data(input).write(to: URL(fileURLWithPath: path)) }
            do { try body(input); accepted += 1 } catch { rejected += 1 }
        }
        return (accepted, rejected)
    }
}
