// Byte-level BPE encoding and decoding with tiktoken's semantics: regex pre-split, merges by rank inside each piece,
// special tokens only when the caller allows them, a per-thread piece cache, and batch encoding across threads.
// Two merge rules: `.ranks` (tiktoken rank files: a pair's priority is the rank of its concatenation, and a piece
// that is itself a token is taken whole) and `.merges` (HF/GPT-2 merges lists: priority is the merge's line).
// HF vocabularies may lack single-byte tokens (SmolLM2 lacks 21): such a byte is dropped before merging, as HF
// `tokenizers` does (models/bpe/model.rs `merge_word`); rank files must have all 256, as tiktoken needs them.
// Follows openai/tiktoken: src/lib.rs (`byte_pair_merge`, `encode_native`) and huggingface/tokenizers: models/bpe.
import Foundation

/// Which special tokens a call may encode as special ids (tiktoken's `allowed_special` / `disallowed_special`).
public enum SpecialTokenSet: Equatable, Sendable {
    case none
    case all
    case some(Set<String>)
}

/// A byte-level BPE tokenizer (GPT-2, cl100k, o200k, or one trained by `BPETrainer`). Immutable and thread-safe.
public final class ByteLevelBPE: @unchecked Sendable {
    /// How merge priorities are defined.
    public enum MergeRule: Sendable {
        /// tiktoken: the pair whose concatenation has the lowest rank (= id) merges first; whole-token pieces skip merging.
        case ranks
        /// HF `tokenizers` / GPT-2 `merges.txt`: the pair listed earliest in the merges list merges first.
        case merges
    }

    /// The pre-tokenization pattern.
    public let pattern: SplitPattern
    /// The merge rule (see `MergeRule`).
    public let mergeRule: MergeRule
    /// HF ByteLevel's `add_prefix_space`: a space is prepended to text that does not start with one.
    public let addPrefixSpace: Bool
    /// HF `Digits(individual_digits: true)` before the pattern (StarCoder, SmolLM): every `\p{N}` character is a
    /// piece of its own and the pattern runs on the text between them.
    public let splitsDigits: Bool
    /// Bytes that have no single-byte token, ascending (empty for GPT-2, cl100k, o200k and trained tokenizers).
    /// Encoding drops them (HF `tokenizers`), so text holding them does not round-trip.
    public let missingBytes: [UInt8]
    /// Special tokens and their ids, in id order.
    public let specialTokens: [(token: String, id: Int)]

    let vocab: ByteSpanTable               // ordinary token bytes -> id
    let pairs: PairTable                   // (left id, right id) -> (priority, merged id)
    let byteToID: [Int32]                  // the 256 single-byte tokens; -1 = none (a byte in `missingBytes`)
    private let tokenArena: [UInt8]        // bytes of every id, ordinary and special
    private let tokenStart: [Int32]        // per id; -1 = no such id
    private let tokenLength: [Int32]
    private let specialByContent: [String: Int]
    /// Merges in priority order as (left id, right id, merged id); what `tokenizer.json` / `merges.txt` writers emit.
    let orderedMerges: [(Int32, Int32, Int32)]
    /// Number of merges (the length of merges.txt / tokenizer.json `merges`).
    public var mergeCount: Int { orderedMerges.count }
    private let scratchPool = ScratchPool()

    /// Number of ids (one past the largest id, ordinary or special).
    public var vocabularySize: Int { tokenStart.count }
    /// Number of ordinary (non-special) tokens.
    public var ordinaryTokenCount: Int { vocab.count }

    /// Builds a tokenizer from token bytes and ids, and either no merges (`.ranks`: derived from the ranks) or an
    /// explicit merges list of (left bytes, right bytes) in priority order. `source` names the origin in errors.
    /// Every byte needs a token unless `allowsMissingBytes` (HF vocabularies: a byte without one is dropped when
    /// encoding). `splitsDigits` isolates each digit before the pattern runs (HF `Digits(individual_digits)`).
    public init(tokens: [(bytes: [UInt8], id: Int)], merges: [([UInt8], [UInt8])]?, specialTokens: [(String, Int)],
                pattern: SplitPattern, addPrefixSpace: Bool = false, splitsDigits: Bool = false,
                allowsMissingBytes: Bool = false, source: String = "tokenizer") throws {
        try PreTokenizer.validate(pattern, location: source + ": pattern")
        if splitsDigits && addPrefixSpace {
            // HF adds the prefix space to every piece the Digits step leaves, not only to the start of the text.
            throw TokenizerError.unsupported(location: source, feature: "add_prefix_space together with a Digits pre-tokenizer")
        }
        self.pattern = pattern
        self.addPrefixSpace = addPrefixSpace
        self.splitsDigits = splitsDigits
        self.mergeRule = merges == nil ? .ranks : .merges
        var maxID = -1
        var table = ByteSpanTable(expectedCount: tokens.count)
        for (bytes, id) in tokens {
            guard id >= 0, id < Int(Int32.max) else {
                throw TokenizerError.malformed(location: source, expected: "token ids in 0..<2^31, got \(id)")
            }
            if bytes.isEmpty { throw TokenizerError.malformed(location: source, expected: "non-empty tokens (id \(id) is empty)") }
            let previous = table.insert(bytes, value: Int32(id))
            if previous >= 0 {
                throw TokenizerError.malformed(location: source, expected: "each token once; ids \(previous) and \(id) have the same bytes \(ByteLevelAlphabet.encode(bytes))")
            }
            maxID = max(maxID, id)
        }
        for (_, id) in specialTokens { maxID = max(maxID, id) }
        var start = [Int32](repeating: -1, count: maxID + 1)
        var length = [Int32](repeating: 0, count: maxID + 1)
        var arena: [UInt8] = []
        for (bytes, id) in tokens {
            if start[id] >= 0 { throw TokenizerError.malformed(location: source, expected: "distinct ids; id \(id) is used twice") }
            start[id] = Int32(arena.count); length[id] = Int32(bytes.count); arena.append(contentsOf: bytes)
        }
        var byContent: [String: Int] = [:]
        for (content, id) in specialTokens {
            if content.isEmpty { throw TokenizerError.malformed(location: source, expected: "non-empty special tokens") }
            if start[id] >= 0, byContent.values.contains(id) == false, table.lookup(Array(content.utf8)) != Int32(id) {
                throw TokenizerError.malformed(location: source, expected: "special token \(content.debugDescription) to have its own id; \(id) is an ordinary token")
            }
            byContent[content] = id
            if start[id] < 0 {
                start[id] = Int32(arena.count); length[id] = Int32(content.utf8.count); arena.append(contentsOf: content.utf8)
            }
        }
        self.specialTokens = specialTokens.map { (token: $0.0, id: $0.1) }.sorted { $0.id < $1.id }
        self.specialByContent = byContent
        var bytesToID = [Int32](repeating: -1, count: 256)
        var missing: [UInt8] = []
        for b in 0..<256 {
            bytesToID[b] = table.lookup([UInt8(b)])
            if bytesToID[b] < 0 {
                guard allowsMissingBytes else {
                    throw TokenizerError.malformed(location: source, expected: "a token for every single byte (byte-level BPE); byte 0x\(String(b, radix: 16)) has none")
                }
                missing.append(UInt8(b))
            }
        }
        byteToID = bytesToID
        missingBytes = missing

        var pairTable = PairTable(expectedCount: max(16, (merges?.count ?? tokens.count * 4)))
        var ordered: [(Int32, Int32, Int32)] = []
        if let merges {
            ordered.reserveCapacity(merges.count)
            for (index, (left, right)) in merges.enumerated() {
                let l = table.lookup(left), r = table.lookup(right), m = table.lookup(left + right)
                guard l >= 0, r >= 0, m >= 0 else {
                    let missing = l < 0 ? left : (r < 0 ? right : left + right)
                    throw TokenizerError.malformed(location: "\(source): merges[\(index)]",
                                                   expected: "tokens in the vocabulary; \(ByteLevelAlphabet.encode(missing).debugDescription) is not")
                }
                pairTable.insertIfAbsent(l, r, rank: Int32(index), mergedID: m)
                ordered.append((l, r, m))
            }
        } else {
            // tiktoken: any split of a token into two tokens is a merge whose priority is the token's rank.
            let sorted = tokens.sorted { $0.id < $1.id }
            for (bytes, id) in sorted where bytes.count >= 2 {
                var local: [(Int32, Int32)] = []
                bytes.withUnsafeBufferPointer { b in
                    for k in 1..<b.count {
                        let l = table.lookup(b.baseAddress!, k), r = table.lookup(b.baseAddress! + k, b.count - k)
                        if l >= 0 && r >= 0 { local.append((l, r)) }
                    }
                }
                // The order HF's tiktoken converter uses for merges of the same token (by the parts' ranks).
                local.sort { ($0.0, $0.1) < ($1.0, $1.1) }
                for (l, r) in local {
                    pairTable.insertIfAbsent(l, r, rank: Int32(id), mergedID: Int32(id))
                    ordered.append((l, r, Int32(id)))
                }
            }
        }
        vocab = table
        pairs = pairTable
        orderedMerges = ordered
        tokenArena = arena
        tokenStart = start
        tokenLength = length
    }

    /// Drops the piece caches (they persist across calls; benchmarks clear them to time cold runs).
    public func clearCache() { scratchPool.removeAll() }

    // MARK: Token lookups

    /// The bytes of token `id` (ordinary or special), or nil if the id is unused.
    public func bytes(forID id: Int) -> [UInt8]? {
        guard id >= 0, id < tokenStart.count, tokenStart[id] >= 0 else { return nil }
        let s = Int(tokenStart[id])
        return Array(tokenArena[s..<(s + Int(tokenLength[id]))])
    }

    /// The id of an ordinary token given its bytes.
    public func id(forBytes bytes: [UInt8]) -> Int? {
        let v = vocab.lookup(bytes)
        return v >= 0 ? Int(v) : nil
    }

    /// The id of a special token, or nil.
    public func specialID(_ token: String) -> Int? { specialByContent[token] }

    /// Whether `id` is a special token.
    public func isSpecial(_ id: Int) -> Bool { specialTokens.contains { $0.id == id } }

    // MARK: Encoding

    /// Encodes text ignoring special tokens: `<|endoftext|>` in the text is ordinary text (tiktoken `encode_ordinary`).
    public func encodeOrdinary(_ text: String) -> [Int] {
        var out: [Int] = []
        var text = text
        if addPrefixSpace, let first = text.unicodeScalars.first, !first.properties.isWhitespace { text = " " + text }
        withScratch { scratch in
            text.utf8.withContiguousStorageIfAvailable { b in
                if let base = b.baseAddress { encodeOrdinary(base, b.count, into: &out, scratch) }
            } ?? Array(text.utf8).withUnsafeBufferPointer { b in
                if let base = b.baseAddress { encodeOrdinary(base, b.count, into: &out, scratch) }
            }
        }
        return out
    }

    /// Encodes arbitrary bytes (not necessarily UTF-8) ignoring special tokens; `decodeBytes` returns them exactly.
    public func encodeOrdinary(bytes: [UInt8]) -> [Int] {
        var out: [Int] = []
        withScratch { scratch in
            bytes.withUnsafeBufferPointer { b in
                if let base = b.baseAddress { encodeOrdinary(base, b.count, into: &out, scratch) }
            }
        }
        return out
    }

    /// Encodes text the tiktoken way: specials in `allowedSpecial` become their ids; any other special that is in
    /// `disallowedSpecial` (default: all not allowed) makes the call throw `disallowedSpecialToken` naming it;
    /// specials in neither set are encoded as ordinary text. tiktoken's `encode(text)` is
    /// `encode(text, allowedSpecial: .none)`; plain `encode(text)` (the `Tokenizer` requirement) is `encodeOrdinary`.
    public func encode(_ text: String, allowedSpecial: SpecialTokenSet,
                       disallowedSpecial: SpecialTokenSet = .all) throws -> [Int] {
        let allowed = resolve(allowedSpecial)
        var disallowed = resolve(disallowedSpecial)
        if case .all = disallowedSpecial { disallowed.subtract(allowed) }
        var text = text
        if addPrefixSpace, let first = text.unicodeScalars.first, !first.properties.isWhitespace { text = " " + text }
        let bytes = Array(text.utf8)
        if !disallowed.isEmpty, let hit = findSpecial(bytes, from: 0, among: disallowed) {
            throw TokenizerError.disallowedSpecialToken(hit.token)
        }
        if allowed.isEmpty {
            var out: [Int] = []
            withScratch { scratch in
                bytes.withUnsafeBufferPointer { b in if let base = b.baseAddress { encodeOrdinary(base, b.count, into: &out, scratch) } }
            }
            return out
        }
        var out: [Int] = []
        withScratch { scratch in
            bytes.withUnsafeBufferPointer { b in
                guard let base = b.baseAddress else { return }
                var position = 0
                while position < b.count {
                    let hit = findSpecial(bytes, from: position, among: allowed)
                    let end = hit?.start ?? b.count
                    if end > position { encodeOrdinary(base + position, end - position, into: &out, scratch) }
                    guard let hit else { break }
                    out.append(specialByContent[hit.token]!)
                    position = hit.start + hit.token.utf8.count
                }
            }
        }
        return out
    }

    /// Encodes many texts on `threads` threads (each text with `encodeOrdinary` semantics); order is preserved.
    public func encodeOrdinaryBatch(_ texts: [String], threads: Int = 2) -> [[Int]] {
        var results = [[Int]](repeating: [], count: texts.count)
        let threadCount = max(1, min(threads, texts.count))
        if threadCount == 1 { return texts.map { encodeOrdinary($0) } }
        // Split by bytes, not by count, so threads get similar work.
        let sizes = texts.map { $0.utf8.count }
        let total = sizes.reduce(0, +)
        var bounds = [0]
        var acc = 0
        for (i, s) in sizes.enumerated() {
            acc += s
            if bounds.count < threadCount, acc * threadCount >= total * bounds.count { bounds.append(i + 1) }
        }
        while bounds.count <= threadCount { bounds.append(texts.count) }
        bounds[threadCount] = texts.count
        results.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            DispatchQueue.concurrentPerform(iterations: threadCount) { t in
                for i in bounds[t]..<bounds[t + 1] { out[i] = encodeOrdinary(texts[i]) }
            }
        }
        return results
    }

    private func resolve(_ set: SpecialTokenSet) -> Set<String> {
        switch set {
        case .none: return []
        case .all: return Set(specialByContent.keys)
        case let .some(s): return s
        }
    }

    /// The first (leftmost, then longest) occurrence at or after `from` of a token in `among`.
    private func findSpecial(_ bytes: [UInt8], from: Int, among: Set<String>) -> (start: Int, token: String)? {
        let candidates = among.map { ($0, Array($0.utf8)) }.filter { !$0.1.isEmpty }
        if candidates.isEmpty { return nil }
        var first = [Bool](repeating: false, count: 256)
        for (_, c) in candidates { first[Int(c[0])] = true }
        return bytes.withUnsafeBufferPointer { b -> (Int, String)? in
            var i = from
            while i < b.count {
                if first[Int(b[i])] {
                    var best: (String, Int)? = nil
                    for (token, c) in candidates where c.count <= b.count - i && c.count > (best?.1 ?? 0) {
                        if memcmp(b.baseAddress! + i, c, c.count) == 0 { best = (token, c.count) }
                    }
                    if let best { return (i, best.0) }
                }
                i += 1
            }
            return nil
        }
    }

    // MARK: The hot loop

    private func withScratch<R>(_ body: (EncodeScratch) -> R) -> R {
        let scratch = scratchPool.take()
        defer { scratchPool.give(scratch) }
        return body(scratch)
    }

    /// Pre-splits `p[0..<n]` and appends the ids of every piece to `out`.
    func encodeOrdinary(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int], _ scratch: EncodeScratch) {
        out.reserveCapacity(out.count + n / 4 + 8)
        let splitter = PreTokenizer(pattern)
        guard splitsDigits else {
            splitter.forEachPiece(p, n) { s, e in encodePiece(p + s, e - s, into: &out, scratch) }
            return
        }
        // HF Digits(individual_digits: true): each \p{N} character (Rust `char::is_numeric`) is isolated; the pattern
        // then runs on each stretch between digits as on a text of its own. Invalid UTF-8 bytes are not digits.
        var i = 0, stretch = 0
        while i < n {
            let (value, length, valid) = decodeScalar(p, n, i)
            let flags = value < 0x20000 ? CharClass.table[Int(value)] : CharClass.compute(value)
            if valid && flags & CharClass.number != 0 {
                let base = p + stretch
                if stretch < i { splitter.forEachPiece(base, i - stretch) { s, e in encodePiece(base + s, e - s, into: &out, scratch) } }
                encodePiece(p + i, length, into: &out, scratch)
                stretch = i + length
            }
            i += length
        }
        let base = p + stretch
        if stretch < n { splitter.forEachPiece(base, n - stretch) { s, e in encodePiece(base + s, e - s, into: &out, scratch) } }
    }

    @inline(__always)
    private func encodePiece(_ piece: UnsafePointer<UInt8>, _ len: Int, into out: inout [Int], _ scratch: EncodeScratch) {
        if len == 1 {
            let id = byteToID[Int(piece[0])]
            if id >= 0 { out.append(Int(id)) }  // a byte without a token is dropped (HF)
            return
        }
        if mergeRule == .ranks {
            let whole = vocab.lookup(piece, len)
            if whole >= 0 { out.append(Int(whole)); return }
        }
        if scratch.appendCached(piece, len, into: &out) { return }
        let firstOut = out.count
        if !missingBytes.isEmpty, let kept = bytesWithTokens(piece, len) {
            // HF `merge_word` skips a character that is not in the vocabulary before merging, so its neighbours can
            // merge with each other ("!\u{04}!" -> "!!"); llama.cpp drops it after merging instead.
            kept.withUnsafeBufferPointer { b in
                if let base = b.baseAddress, b.count > 0 { bytePairMerge(base, b.count, into: &out, scratch) }
            }
        } else {
            bytePairMerge(piece, len, into: &out, scratch)
        }
        scratch.store(piece, len, ids: out, from: firstOut)
    }

    /// The bytes of a piece that have a token, or nil when all of them have one.
    private func bytesWithTokens(_ piece: UnsafePointer<UInt8>, _ len: Int) -> [UInt8]? {
        var k = 0
        while k < len && byteToID[Int(piece[k])] >= 0 { k += 1 }
        if k == len { return nil }
        var kept = Array(UnsafeBufferPointer(start: piece, count: k))
        for j in (k + 1)..<len where byteToID[Int(piece[j])] >= 0 { kept.append(piece[j]) }
        return kept
    }

    /// Merges the bytes of one piece: repeatedly merge the adjacent pair with the lowest priority (leftmost on ties).
    /// Parts are kept in arrays and the minimum is found by a linear scan, as tiktoken does: pieces are short, and
    /// a scan over a few dozen Int32s beats a heap's bookkeeping (pieces over 256 bytes use the heap variant).
    private func bytePairMerge(_ piece: UnsafePointer<UInt8>, _ len: Int, into out: inout [Int], _ scratch: EncodeScratch) {
        if len > 256 { bytePairMergeLong(piece, len, into: &out); return }
        bytePairMergeArray(piece, len, into: &out, scratch)
    }

    private func bytePairMergeArray(_ piece: UnsafePointer<UInt8>, _ len: Int, into out: inout [Int], _ scratch: EncodeScratch) {
        scratch.reserve(len)
        let ids = scratch.ids, ranks = scratch.ranks, merged = scratch.merged
        var count = len
        for k in 0..<len { ids[k] = byteToID[Int(piece[k])] }
        @inline(__always) func score(_ k: Int) {
            let slot = pairs.find(ids[k], ids[k + 1])
            if slot >= 0 { ranks[k] = pairs.rank(at: slot); merged[k] = pairs.mergedID(at: slot) } else { ranks[k] = Int32.max }
        }
        for k in 0..<(len - 1) { score(k) }
        while count > 1 {
            var best = Int32.max, at = -1
            for k in 0..<(count - 1) where ranks[k] < best { best = ranks[k]; at = k }
            if at < 0 { break }
            ids[at] = merged[at]
            // Remove part at+1.
            if at + 1 < count - 1 {
                let tail = count - 1 - (at + 1)
                (ids + at + 1).update(from: ids + at + 2, count: tail)
                (ranks + at + 1).update(from: ranks + at + 2, count: tail - 1 > 0 ? tail - 1 : 0)
                (merged + at + 1).update(from: merged + at + 2, count: tail - 1 > 0 ? tail - 1 : 0)
            }
            count -= 1
            if at + 1 < count { score(at) } else { ranks[at] = Int32.max }
            if at > 0 { score(at - 1) }
        }
        for k in 0..<count { out.append(Int(ids[k])) }
    }

    /// Test hook: merges one piece with the array path (`long == false`, any length) or the heap path.
    func mergeForTesting(_ piece: [UInt8], long: Bool) -> [Int] {
        var out: [Int] = []
        piece.withUnsafeBufferPointer { b in
            if long { bytePairMergeLong(b.baseAddress!, b.count, into: &out) }
            else { withScratch { scratch in bytePairMergeArray(b.baseAddress!, b.count, into: &out, scratch) } }
        }
        return out
    }

    /// The same merge order for long pieces with a doubly linked list and a binary heap: O(n log n), not O(n²).
    private func bytePairMergeLong(_ piece: UnsafePointer<UInt8>, _ len: Int, into out: inout [Int]) {
        var ids = (0..<len).map { byteToID[Int(piece[$0])] }
        var next = Array(1...len), prev = Array(-1..<(len - 1))
        var alive = [Bool](repeating: true, count: len)
        // Heap of (rank, position, left id, right id); stale entries are skipped when popped.
        var heap = BinaryHeap<HeapEntry>()
        func push(_ k: Int) {
            let j = next[k]
            guard j < len else { return }
            let slot = pairs.find(ids[k], ids[j])
            if slot >= 0 { heap.push(HeapEntry(rank: pairs.rank(at: slot), position: Int32(k), left: ids[k], right: ids[j])) }
        }
        for k in 0..<(len - 1) { push(k) }
        while let top = heap.pop() {
            let k = Int(top.position)
            guard alive[k], ids[k] == top.left, next[k] < len, ids[next[k]] == top.right else { continue }
            let j = next[k]
            let slot = pairs.find(ids[k], ids[j])
            ids[k] = pairs.mergedID(at: slot)
            alive[j] = false
            next[k] = next[j]
            if next[j] < len { prev[next[j]] = k }
            push(k)
            if prev[k] >= 0 { push(prev[k]) }
        }
        var k = 0
        while k < len { out.append(Int(ids[k])); k = next[k] }
    }

    // MARK: Decoding

    /// The bytes of a token sequence (special tokens contribute their text).
    public func decodeBytes(_ ids: [Int]) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for id in ids {
            guard id >= 0, id < tokenStart.count, tokenStart[id] >= 0 else { throw TokenizerError.unknownTokenID(id) }
            let s = Int(tokenStart[id])
            out.append(contentsOf: tokenArena[s..<(s + Int(tokenLength[id]))])
        }
        return out
    }

    /// The text of a token sequence; invalid UTF-8 becomes U+FFFD (tiktoken's `errors="replace"`).
    public func decode(_ ids: [Int]) throws -> String {
        String(decoding: try decodeBytes(ids), as: UTF8.self)
    }

    func appendBytes(of id: Int, to out: inout [UInt8]) throws {
        guard id >= 0, id < tokenStart.count, tokenStart[id] >= 0 else { throw TokenizerError.unknownTokenID(id) }
        let s = Int(tokenStart[id])
        out.append(contentsOf: tokenArena[s..<(s + Int(tokenLength[id]))])
    }
}

struct HeapEntry: Comparable {
    let rank: Int32, position: Int32, left: Int32, right: Int32
    static func < (a: HeapEntry, b: HeapEntry) -> Bool { (a.rank, a.position) < (b.rank, b.position) }
}

/// A min-heap.
struct BinaryHeap<Element: Comparable> {
    private(set) var items: [Element] = []
    var isEmpty: Bool { items.isEmpty }
    var count: Int { items.count }

    mutating func push(_ x: Element) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[i] < items[parent] { items.swapAt(i, parent); i = parent } else { break }
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && items[l] < items[m] { m = l }
                if r < items.count && items[r] < items[m] { m = r }
                if m == i { break }
                items.swapAt(i, m); i = m
            }
        }
        return top
    }

    var top: Element? { items.first }
}

/// Per-thread working memory: merge buffers and the piece cache (piece bytes -> ids), cleared when it grows large.
final class EncodeScratch {
    private(set) var capacity = 0
    var ids = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    var ranks = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    var merged = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private var cache = ByteSpanTable(expectedCount: 4096)
    private var cacheStart: [Int32] = []
    private var cacheCount: [Int32] = []
    private var cacheIDs: [Int32] = []
    static let maxCachedPieces = 1 << 17

    func reserve(_ n: Int) {
        if n <= capacity { return }
        ids.deallocate(); ranks.deallocate(); merged.deallocate()
        capacity = max(n, 64)
        ids = .allocate(capacity: capacity); ranks = .allocate(capacity: capacity); merged = .allocate(capacity: capacity)
    }

    @inline(__always)
    func appendCached(_ piece: UnsafePointer<UInt8>, _ len: Int, into out: inout [Int]) -> Bool {
        let e = cache.lookup(piece, len)
        if e < 0 { return false }
        let s = Int(cacheStart[Int(e)])
        for k in s..<(s + Int(cacheCount[Int(e)])) { out.append(Int(cacheIDs[k])) }
        return true
    }

    func store(_ piece: UnsafePointer<UInt8>, _ len: Int, ids out: [Int], from: Int) {
        if cacheStart.count >= EncodeScratch.maxCachedPieces {
            cache = ByteSpanTable(expectedCount: 4096); cacheStart.removeAll(keepingCapacity: true)
            cacheCount.removeAll(keepingCapacity: true); cacheIDs.removeAll(keepingCapacity: true)
        }
        cache.insert(piece, len, value: Int32(cacheStart.count))
        cacheStart.append(Int32(cacheIDs.count))
        cacheCount.append(Int32(out.count - from))
        for k in from..<out.count { cacheIDs.append(Int32(out[k])) }
    }

    deinit { ids.deallocate(); ranks.deallocate(); merged.deallocate() }
}

/// Scratch objects reused across calls (taken and returned under a lock, once per call).
final class ScratchPool: @unchecked Sendable {
    private var free: [EncodeScratch] = []
    private let lock = NSLock()
    func take() -> EncodeScratch {
        lock.lock(); defer { lock.unlock() }
        return free.popLast() ?? EncodeScratch()
    }
    func removeAll() {
        lock.lock(); defer { lock.unlock() }
        free.removeAll()
    }
    func give(_ s: EncodeScratch) {
        lock.lock(); defer { lock.unlock() }
        if free.count < 8 { free.append(s) }
    }
}
