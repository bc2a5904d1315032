// GPT-2's byte <-> printable-character table ("bytes_to_unicode"), used by vocab.json, merges.txt and HF
// tokenizer.json to store byte strings as text: printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100 and up in byte order. Follows openai/gpt-2: src/encoder.py `bytes_to_unicode`.
import Foundation

/// The GPT-2 byte-level alphabet.
public enum ByteLevelAlphabet {
    /// The character for each byte.
    public static let characterForByte: [Unicode.Scalar] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var chars = printable.map { UInt32($0) }
        var extra: UInt32 = 0
        for b in 0..<256 where !printable.contains(b) {
            printable.append(b); chars.append(256 + extra); extra += 1
        }
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        for (b, c) in zip(printable, chars) { table[b] = Unicode.Scalar(c)! }
        return table
    }()

    /// Byte for each character code (index = scalar value, -1 = not in the alphabet; the largest is U+0143).
    static let byteForCharacter: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (b, c) in characterForByte.enumerated() { table[Int(c.value)] = Int16(b) }
        return table
    }()

    /// Bytes -> alphabet text, e.g. `[0x20, 0x68, 0x69]` -> `"Ġhi"`.
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(characterForByte[Int(b)]) }
        return String(s)
    }

    /// Alphabet text -> bytes; nil if a character is not in the alphabet.
    public static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.unicodeScalars.count)
        for c in text.unicodeScalars {
            guard Int(c.value) < byteForCharacter.count, byteForCharacter[Int(c.value)] >= 0 else { return nil }
            out.append(UInt8(byteForCharacter[Int(c.value)]))
        }
        return out
    }
}
