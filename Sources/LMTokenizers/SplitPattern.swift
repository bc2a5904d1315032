// Regex pre-tokenization for byte-level BPE: hand-written scanners equal to tiktoken's GPT-2 (r50k), cl100k and
// o200k split patterns, plus an NSRegularExpression fallback for any other pattern (slow; used for unknown
// tokenizer.json Split patterns and as the oracle in the property tests). The scanners work on UTF-8 bytes;
// `\s` means Unicode White_Space as in Rust's regex crate (tiktoken), not ICU's narrower `[\t\n\f\r\p{Z}]`.
// Follows openai/tiktoken: tiktoken_ext/openai_public.py (the patterns), and each alternative's backtracking
// is derived in the comments of `PieceScanner` below.
import Foundation

/// A pre-tokenization pattern: text is cut into pieces by it before BPE merges run inside each piece.
public enum SplitPattern: Equatable, Sendable {
    /// GPT-2 / r50k / p50k: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// cl100k_base (GPT-3.5/4).
    case cl100k
    /// o200k_base (GPT-4o).
    case o200k
    /// Any other regex, run through NSRegularExpression (ICU) with `\s` read as `\p{White_Space}`. Much slower.
    case regex(String)

    /// The pattern text as tiktoken writes it (and as LMKit writes into tokenizer.json Split pre-tokenizers).
    public var regexString: String {
        switch self {
        case .gpt2: return #"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"#
        case .cl100k:
            return #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"#
        case .o200k:
            return [
                #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#,
                #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#,
                #"\p{N}{1,3}"#, #" ?[^\s\p{L}\p{N}]+[\r\n/]*"#, #"\s*[\r\n]+"#, #"\s+(?!\S)"#, #"\s+"#,
            ].joined(separator: "|")
        case let .regex(pattern): return pattern
        }
    }

    /// The original GPT-2 pattern as HF `tokenizers` ByteLevel uses it (equivalent to `.gpt2`).
    public static let gpt2OriginalRegex = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// The pattern as written into tokenizer.json for HF `tokenizers` (Oniguruma). Oniguruma reads `{1,3}+` as
    /// "one or more runs of 1-3", not as a possessive `{1,3}`, which would glue all digits into one piece; a bounded
    /// repetition at the end of an alternative never backtracks anyway, so dropping the `+` keeps tiktoken's meaning.
    public var huggingFaceRegexString: String {
        regexString.replacingOccurrences(of: #"\p{N}{1,3}+"#, with: #"\p{N}{1,3}"#)
    }

    /// Recognizes the built-in patterns from their text (so a tokenizer.json with cl100k's Split regex gets the fast scanner).
    public init(regexString: String) {
        switch regexString {
        case SplitPattern.gpt2.regexString, SplitPattern.gpt2OriginalRegex: self = .gpt2
        case SplitPattern.cl100k.regexString, SplitPattern.cl100k.huggingFaceRegexString: self = .cl100k
        case SplitPattern.o200k.regexString: self = .o200k
        default: self = .regex(regexString)
        }
    }

    /// A name for CLI flags and messages: gpt2, cl100k, o200k, or the regex itself.
    public init?(name: String) {
        switch name.lowercased() {
        case "gpt2", "r50k", "r50k_base", "p50k", "p50k_base": self = .gpt2
        case "cl100k", "cl100k_base": self = .cl100k
        case "o200k", "o200k_base": self = .o200k
        default: return nil
        }
    }

    /// Cuts `text` into pieces (test and debugging helper; the encoder uses the byte-range form).
    public func split(_ text: String) -> [String] {
        var bytes = Array(text.utf8)
        var out: [String] = []
        let splitter = PreTokenizer(self)
        bytes.withUnsafeMutableBufferPointer { b in
            guard let base = b.baseAddress else { return }
            splitter.forEachPiece(UnsafePointer(base), b.count) { s, e in
                out.append(String(decoding: UnsafeBufferPointer(start: base + s, count: e - s), as: UTF8.self))
            }
        }
        return out
    }
}

// MARK: - Character classes

/// Bit flags per Unicode scalar.
enum CharClass {
    static let letter: UInt8 = 1        // \p{L}
    static let number: UInt8 = 2        // \p{N}
    static let space: UInt8 = 4         // \s = White_Space
    static let upperish: UInt8 = 8      // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
    static let lowerish: UInt8 = 16     // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
    static let mark: UInt8 = 32         // \p{M}

    static func compute(_ value: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(value) else { return 0 }
        var f: UInt8 = 0
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .titlecaseLetter: f = letter | upperish
        case .lowercaseLetter: f = letter | lowerish
        case .modifierLetter, .otherLetter: f = letter | upperish | lowerish
        case .nonspacingMark, .spacingMark, .enclosingMark: f = mark | upperish | lowerish
        case .decimalNumber, .letterNumber, .otherNumber: f = number
        default: f = 0
        }
        if scalar.properties.isWhitespace { f |= space }
        return f
    }

    /// Flags for U+0000..U+1FFFF (covers BMP and the emoji plane); higher scalars are computed on demand.
    static let table: [UInt8] = (0..<UInt32(0x20000)).map { compute($0) }
}

// MARK: - Scanner

/// Finds piece boundaries in UTF-8 bytes. Invalid UTF-8 bytes count as one "other" character each, so arbitrary
/// bytes still split into pieces that cover the input exactly.
struct PreTokenizer {
    let pattern: SplitPattern
    private let regex: NSRegularExpression?

    init(_ pattern: SplitPattern) {
        self.pattern = pattern
        if case let .regex(text) = pattern {
            // ICU's \s omits U+000B and U+0085; tiktoken (Rust regex) uses White_Space. `$` must mean end of text.
            let icu = text.replacingOccurrences(of: #"\s"#, with: #"\p{White_Space}"#)
                .replacingOccurrences(of: #"\S"#, with: #"\P{White_Space}"#)
                .replacingOccurrences(of: "$", with: #"\z"#)
            regex = try? NSRegularExpression(pattern: icu)
        } else {
            regex = nil
        }
    }

    /// Checks that a `.regex` pattern compiles; throws naming the pattern.
    static func validate(_ pattern: SplitPattern, location: String) throws {
        if case .regex = pattern, PreTokenizer(pattern).regex == nil {
            throw TokenizerError.malformed(location: location, expected: "a valid regular expression, got \(pattern.regexString.debugDescription)")
        }
    }

    /// Calls `body(start, end)` for each piece of `p[0..<n]`, in order; the pieces tile the input.
    @inline(__always)
    func forEachPiece(_ p: UnsafePointer<UInt8>, _ n: Int, _ body: (Int, Int) -> Void) {
        let scanner = PieceScanner(p: p, n: n)
        var i = 0
        switch pattern {
        case .gpt2: while i < n { let e = scanner.gpt2(i); body(i, e); i = e }
        case .cl100k: while i < n { let e = scanner.cl100k(i); body(i, e); i = e }
        case .o200k: while i < n { let e = scanner.o200k(i); body(i, e); i = e }
        case .regex: regexPieces(p, n, body)
        }
    }

    private func regexPieces(_ p: UnsafePointer<UInt8>, _ n: Int, _ body: (Int, Int) -> Void) {
        guard let regex else { body(0, n); return }
        // Work segment by segment of valid UTF-8; invalid bytes become single-byte pieces.
        var i = 0
        while i < n {
            var j = i
            while j < n {
                let (_, len, valid) = decodeScalar(p, n, j)
                if !valid { break }
                j += len
            }
            if j > i {
                let text = String(decoding: UnsafeBufferPointer(start: p + i, count: j - i), as: UTF8.self)
                let utf16 = Array(text.utf16)
                // UTF-16 offset -> UTF-8 offset map.
                var u8ForU16 = [Int](repeating: 0, count: utf16.count + 1)
                var u8 = 0, u16 = 0
                for scalar in text.unicodeScalars {
                    u8ForU16[u16] = u8
                    let w16 = scalar.value > 0xFFFF ? 2 : 1
                    if w16 == 2 { u8ForU16[u16 + 1] = u8 }
                    u16 += w16; u8 += UTF8.width(scalar)
                }
                u8ForU16[u16] = u8
                var covered = 0
                for match in regex.matches(in: text, range: NSRange(location: 0, length: utf16.count)) where match.range.length > 0 {
                    let s = u8ForU16[match.range.location], e = u8ForU16[match.range.location + match.range.length]
                    if s > covered { body(i + covered, i + s) }  // text the pattern skipped stays a piece of its own
                    body(i + s, i + e)
                    covered = e
                }
                if covered < j - i { body(i + covered, j) }
            }
            if j < n { body(j, j + 1); i = j + 1 } else { i = j }
        }
    }
}

/// Decodes the scalar at `i`: (value, byte length, valid). An invalid or truncated sequence is (byte, 1, false).
@inline(__always)
func decodeScalar(_ p: UnsafePointer<UInt8>, _ n: Int, _ i: Int) -> (UInt32, Int, Bool) {
    let b0 = UInt32(p[i])
    if b0 < 0x80 { return (b0, 1, true) }
    if b0 >= 0xC2 && b0 < 0xE0 {
        if i + 1 < n, p[i + 1] & 0xC0 == 0x80 { return ((b0 & 0x1F) << 6 | UInt32(p[i + 1] & 0x3F), 2, true) }
    } else if b0 >= 0xE0 && b0 < 0xF0 {
        if i + 2 < n, p[i + 1] & 0xC0 == 0x80, p[i + 2] & 0xC0 == 0x80 {
            let v = (b0 & 0x0F) << 12 | UInt32(p[i + 1] & 0x3F) << 6 | UInt32(p[i + 2] & 0x3F)
            if v >= 0x800 && !(0xD800...0xDFFF).contains(v) { return (v, 3, true) }
        }
    } else if b0 >= 0xF0 && b0 < 0xF5 {
        if i + 3 < n, p[i + 1] & 0xC0 == 0x80, p[i + 2] & 0xC0 == 0x80, p[i + 3] & 0xC0 == 0x80 {
            let v = (b0 & 0x07) << 18 | UInt32(p[i + 1] & 0x3F) << 12 | UInt32(p[i + 2] & 0x3F) << 6 | UInt32(p[i + 3] & 0x3F)
            if v >= 0x10000 && v <= 0x10FFFF { return (v, 4, true) }
        }
    }
    return (b0, 1, false)
}

/// The three hand-written scanners. Each `x(i)` returns the end of the piece that the pattern's regex matches at `i`
/// (tiktoken runs the regex with find_iter; these patterns match at every position, so pieces tile the text).
struct PieceScanner {
    let p: UnsafePointer<UInt8>
    let n: Int
    private let table: UnsafePointer<UInt8>

    init(p: UnsafePointer<UInt8>, n: Int) {
        self.p = p; self.n = n
        table = CharClass.table.withUnsafeBufferPointer { $0.baseAddress! }  // a global `let`: never moves or dies
    }

    /// (class flags, byte length) of the character at `i`.
    @inline(__always)
    func info(_ i: Int) -> (UInt8, Int) {
        let b = p[i]
        if b < 0x80 { return (table[Int(b)], 1) }
        let (v, len, valid) = decodeScalar(p, n, i)
        if !valid { return (0, 1) }
        return (v < 0x20000 ? table[Int(v)] : CharClass.compute(v), len)
    }

    @inline(__always) private func isOther(_ f: UInt8) -> Bool { f & (CharClass.letter | CharClass.number | CharClass.space) == 0 }
    @inline(__always) private func isCRLF(_ i: Int) -> Bool { p[i] == 0x0A || p[i] == 0x0D }

    /// End of the maximal run of characters whose flags intersect `mask`, starting at `i`.
    @inline(__always)
    private func run(_ mask: UInt8, from i: Int) -> Int {
        var k = i
        while k < n {
            let (f, len) = info(k)
            if f & mask == 0 { break }
            k += len
        }
        return k
    }

    @inline(__always)
    private func runOfOther(from i: Int) -> Int {
        var k = i
        while k < n {
            let (f, len) = info(k)
            if !isOther(f) { break }
            k += len
        }
        return k
    }

    /// Whitespace run from `i`: (end, start of its last character, end of its last \r or \n or -1, character count).
    @inline(__always)
    private func spaceRun(from i: Int) -> (end: Int, lastStart: Int, lastNewlineEnd: Int, count: Int) {
        var k = i, last = i, nl = -1, count = 0
        while k < n {
            let (f, len) = info(k)
            if f & CharClass.space == 0 { break }
            if isCRLF(k) { nl = k + 1 }
            last = k; k += len; count += 1
        }
        return (k, last, nl, count)
    }

    @inline(__always) private func lower(_ b: UInt8) -> UInt8 { b | 0x20 }

    // GPT-2 (r50k): '(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s
    func gpt2(_ i: Int) -> Int {
        let b = p[i]
        if b == 0x27, i + 1 < n {  // case-sensitive contractions
            let c = p[i + 1]
            if c == 0x73 || c == 0x64 || c == 0x6D || c == 0x74 { return i + 2 }
            if i + 2 < n {
                let d = p[i + 2]
                if (c == 0x6C && d == 0x6C) || (c == 0x76 && d == 0x65) || (c == 0x72 && d == 0x65) { return i + 3 }
            }
        }
        // ` ?X++` for X in L, N, other: the optional space is taken only when X follows it.
        let j = (b == 0x20 && i + 1 < n) ? i + 1 : i
        let (f, _) = info(j)
        if f & CharClass.letter != 0 { return run(CharClass.letter, from: j) }
        if f & CharClass.number != 0 { return run(CharClass.number, from: j) }
        if isOther(f) { return runOfOther(from: j) }
        let ws = spaceRun(from: i)
        if ws.end == n { return n }                    // \s++$
        if ws.count >= 2 { return ws.lastStart }       // \s+(?!\S) backs off one character
        return ws.end                                  // \s
    }

    /// tiktoken's case-insensitive `'(?i:[sdmt]|ll|ve|re)` (cl100k); `ſ` (U+017F) folds to `s`.
    @inline(__always)
    private func cl100kContraction(_ i: Int) -> Int {
        guard p[i] == 0x27, i + 1 < n else { return -1 }
        let c = lower(p[i + 1])
        if c == 0x73 || c == 0x64 || c == 0x6D || c == 0x74 { return i + 2 }
        if p[i + 1] == 0xC5, i + 2 < n, p[i + 2] == 0xBF { return i + 3 }
        if i + 2 < n {
            let d = lower(p[i + 2])
            if (c == 0x6C && d == 0x6C) || (c == 0x76 && d == 0x65) || (c == 0x72 && d == 0x65) { return i + 3 }
        }
        return -1
    }

    // cl100k: '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s
    func cl100k(_ i: Int) -> Int {
        let c = cl100kContraction(i)
        if c >= 0 { return c }
        let (f, len) = info(i)
        if f & CharClass.letter != 0 { return run(CharClass.letter, from: i) }
        let prefixable = f & CharClass.number == 0 && !isCRLF(i)  // [^\r\n\p{L}\p{N}] (not a letter here)
        if prefixable, i + len < n {
            let (g, _) = info(i + len)
            if g & CharClass.letter != 0 { return run(CharClass.letter, from: i + len) }
        }
        if f & CharClass.number != 0 {  // \p{N}{1,3}+
            var k = i + len, count = 1
            while count < 3, k < n {
                let (g, l) = info(k)
                if g & CharClass.number == 0 { break }
                k += l; count += 1
            }
            return k
        }
        var j = i
        if p[i] == 0x20, i + 1 < n, isOther(info(i + 1).0) { j = i + 1 }
        if isOther(info(j).0) {
            var k = runOfOther(from: j)
            while k < n, isCRLF(k) { k += 1 }
            return k
        }
        let ws = spaceRun(from: i)
        if ws.end == n { return n }                    // \s++$
        if ws.lastNewlineEnd >= 0 { return ws.lastNewlineEnd }  // \s*[\r\n]
        if ws.count >= 2 { return ws.lastStart }       // \s+(?!\S)
        return i + len                                 // \s
    }

    /// o200k's `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` after a letter run ending at `i`.
    @inline(__always)
    private func o200kContraction(_ i: Int) -> Int {
        guard i + 1 < n, p[i] == 0x27 else { return i }
        let c = lower(p[i + 1])
        if c == 0x73 || c == 0x74 { return i + 2 }                       // 's 't
        if p[i + 1] == 0xC5, i + 2 < n, p[i + 2] == 0xBF { return i + 3 } // 'ſ
        if i + 2 < n {
            let d = lower(p[i + 2])
            if (c == 0x72 || c == 0x76) && d == 0x65 { return i + 3 }     // 're 've
        }
        if c == 0x6D { return i + 2 }                                     // 'm
        if i + 2 < n, c == 0x6C, lower(p[i + 2]) == 0x6C { return i + 3 } // 'll
        if c == 0x64 { return i + 2 }                                     // 'd
        return i
    }

    /// `U*L+` (U = upperish, L = lowerish) at `s`, with the regex's backtracking: when no L follows the U run, L+
    /// takes back the last L-class character inside it (Lm, Lo and M are in both classes). -1 when it cannot match.
    @inline(__always)
    private func upperStarLowerPlus(_ s: Int) -> Int {
        var u = s, lastLowerEnd = -1
        while u < n {
            let (g, l) = info(u)
            if g & CharClass.upperish == 0 { break }
            if g & CharClass.lowerish != 0 { lastLowerEnd = u + l }
            u += l
        }
        let v = run(CharClass.lowerish, from: u)
        if v > u { return v }
        return lastLowerEnd
    }

    // o200k: [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|…)?
    //       |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|…)?
    //       |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
    func o200k(_ i: Int) -> Int {
        let (f, len) = info(i)
        let prefixable = f & (CharClass.letter | CharClass.number) == 0 && !isCRLF(i)
        // Alternative 1, first with the optional prefix, then without it.
        if prefixable, i + len < n {
            let e = upperStarLowerPlus(i + len)
            if e >= 0 { return o200kContraction(e) }
        }
        if f & (CharClass.upperish | CharClass.lowerish) != 0 {
            let e = upperStarLowerPlus(i)
            if e >= 0 { return o200kContraction(e) }
        }
        // Alternative 2: U+ then L*.
        if prefixable, i + len < n, info(i + len).0 & CharClass.upperish != 0 {
            let u = run(CharClass.upperish, from: i + len)
            return o200kContraction(run(CharClass.lowerish, from: u))
        }
        if f & CharClass.upperish != 0 {
            let u = run(CharClass.upperish, from: i)
            return o200kContraction(run(CharClass.lowerish, from: u))
        }
        if f & CharClass.number != 0 {  // \p{N}{1,3}
            var k = i + len, count = 1
            while count < 3, k < n {
                let (g, l) = info(k)
                if g & CharClass.number == 0 { break }
                k += l; count += 1
            }
            return k
        }
        var j = i
        if p[i] == 0x20, i + 1 < n, isOther(info(i + 1).0) { j = i + 1 }
        if isOther(info(j).0) {  //  ?[^\s\p{L}\p{N}]+[\r\n/]*
            var k = runOfOther(from: j)
            while k < n, isCRLF(k) || p[k] == 0x2F { k += 1 }
            return k
        }
        let ws = spaceRun(from: i)
        if ws.lastNewlineEnd >= 0 { return ws.lastNewlineEnd }  // \s*[\r\n]+
        if ws.end == n { return n }                             // \s+(?!\S) at the end of the text
        if ws.count >= 2 { return ws.lastStart }                // \s+(?!\S)
        return ws.end                                           // \s+
    }
}
