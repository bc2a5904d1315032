// Open-addressing hash tables for the encode hot loop: byte spans -> Int32 and packed id pairs -> (rank, id).
// Swift's Dictionary<[UInt8], Int> hashes byte by byte through Hasher and allocates a key array per lookup; these
// tables hash 8 bytes at a time straight from the input buffer and never allocate on lookup. Not thread-safe for
// writes; concurrent reads are fine. Follows tiktoken's `src/lib.rs` design (hash map keyed by byte slices).
import Foundation

/// Hashes `count` bytes at `p`, 8 bytes at a time (wyhash-style multiply-xor mixing).
@inline(__always)
func hashBytes(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: count &+ 1)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 8 <= count {
        let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 29
        i += 8
    }
    if i < count {
        var w: UInt64 = 0
        var shift: UInt64 = 0
        while i < count { w |= UInt64(p[i]) << shift; shift += 8; i += 1 }
        h = (h ^ w) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 31
    }
    h = (h ^ (h >> 32)) &* 0xD6E8_FEB8_6659_FD93
    return h ^ (h >> 32)
}

/// Equality of two byte ranges, 8 bytes per step. Keys are short (most under 8 bytes), where a libc `memcmp` call
/// costs more than the comparison: perf showed memcmp at 9% of encode time before this.
@inline(__always)
func bytesEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 8 <= n {
        if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
        i += 8
    }
    while i < n {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}

/// Maps byte strings to `Int32` values. Keys are copied into one arena; lookups take a pointer and a length.
struct ByteSpanTable {
    private(set) var arena: [UInt8] = []
    private var keyStart: [Int32] = []
    private var keyLength: [Int32] = []
    private var keyHash: [UInt64] = []
    private(set) var values: [Int32] = []
    /// Slot -> entry index + 1 (0 = empty).
    private var slots: [Int32]
    private var mask: Int

    init(expectedCount: Int = 1024) {
        var capacity = 16
        while capacity < expectedCount * 2 { capacity <<= 1 }
        slots = [Int32](repeating: 0, count: capacity)
        mask = capacity - 1
    }

    var count: Int { values.count }

    /// The value for the bytes `p[0..<n]`, or -1.
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32 {
        let h = hashBytes(p, n)
        var slot = Int(truncatingIfNeeded: h) & mask
        return slots.withUnsafeBufferPointer { slots in
            keyHash.withUnsafeBufferPointer { hashes in
                arena.withUnsafeBufferPointer { arena in
                    while true {
                        let e = Int(slots[slot])
                        if e == 0 { return -1 }
                        let entry = e - 1
                        if hashes[entry] == h && Int(keyLength[entry]) == n
                            && bytesEqual(arena.baseAddress! + Int(keyStart[entry]), p, n) {
                            return values[entry]
                        }
                        slot = (slot + 1) & mask
                    }
                }
            }
        }
    }

    func lookup(_ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBufferPointer { b in
            b.count == 0 ? (b.baseAddress == nil ? -1 : lookup(b.baseAddress!, 0)) : lookup(b.baseAddress!, b.count)
        }
    }

    /// Inserts or replaces; returns the previous value or -1.
    @discardableResult
    mutating func insert(_ bytes: [UInt8], value: Int32) -> Int32 {
        bytes.withUnsafeBufferPointer { b in insert(b.baseAddress ?? UnsafePointer(bitPattern: 1)!, b.count, value: value) }
    }

    @discardableResult
    mutating func insert(_ p: UnsafePointer<UInt8>, _ n: Int, value: Int32) -> Int32 {
        if (values.count + 1) * 2 > slots.count { grow() }
        let h = hashBytes(p, n)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let e = Int(slots[slot])
            if e == 0 { break }
            let entry = e - 1
            if keyHash[entry] == h && Int(keyLength[entry]) == n
                && arena.withUnsafeBufferPointer({ memcmp($0.baseAddress! + Int(keyStart[entry]), p, n) }) == 0 {
                let old = values[entry]
                values[entry] = value
                return old
            }
            slot = (slot + 1) & mask
        }
        keyStart.append(Int32(arena.count))
        keyLength.append(Int32(n))
        keyHash.append(h)
        arena.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        values.append(value)
        slots[slot] = Int32(values.count)
        return -1
    }

    /// Adds `delta` to the value of a key (inserting it at 0 first); returns the entry index.
    @discardableResult
    mutating func add(_ p: UnsafePointer<UInt8>, _ n: Int, _ delta: Int32) -> Int {
        if (values.count + 1) * 2 > slots.count { grow() }
        let h = hashBytes(p, n)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let e = Int(slots[slot])
            if e == 0 { break }
            let entry = e - 1
            if keyHash[entry] == h && Int(keyLength[entry]) == n
                && arena.withUnsafeBufferPointer({ memcmp($0.baseAddress! + Int(keyStart[entry]), p, n) }) == 0 {
                values[entry] &+= delta
                return entry
            }
            slot = (slot + 1) & mask
        }
        keyStart.append(Int32(arena.count))
        keyLength.append(Int32(n))
        keyHash.append(h)
        arena.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        values.append(delta)
        slots[slot] = Int32(values.count)
        return values.count - 1
    }

    /// The key bytes of entry `index` (insertion order).
    func key(at index: Int) -> ArraySlice<UInt8> {
        let s = Int(keyStart[index])
        return arena[s..<(s + Int(keyLength[index]))]
    }

    private mutating func grow() {
        let capacity = slots.count * 2
        slots = [Int32](repeating: 0, count: capacity)
        mask = capacity - 1
        for entry in 0..<values.count {
            var slot = Int(truncatingIfNeeded: keyHash[entry]) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(entry + 1)
        }
    }
}

/// Maps an ordered pair of token ids to (merge rank, merged token id), packed in one table for one probe per lookup.
struct PairTable {
    private var keys: [UInt64]
    private var ranks: [Int32]
    private var merged: [Int32]
    private var mask: Int
    private(set) var count = 0
    private static let empty = UInt64.max

    init(expectedCount: Int) {
        var capacity = 16
        while capacity < expectedCount * 2 { capacity <<= 1 }
        keys = [UInt64](repeating: PairTable.empty, count: capacity)
        ranks = [Int32](repeating: 0, count: capacity)
        merged = [Int32](repeating: 0, count: capacity)
        mask = capacity - 1
    }

    @inline(__always) static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    @inline(__always) private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 20) & mask
    }

    /// Inserts the pair unless present (the first insertion wins: it has the lowest rank when inserted in rank order).
    mutating func insertIfAbsent(_ a: Int32, _ b: Int32, rank: Int32, mergedID: Int32) {
        if (count + 1) * 2 > keys.count { grow() }
        let k = PairTable.key(a, b)
        var s = PairTable.slot(k, mask)
        while keys[s] != PairTable.empty {
            if keys[s] == k { return }
            s = (s + 1) & mask
        }
        keys[s] = k; ranks[s] = rank; merged[s] = mergedID
        count += 1
    }

    /// The slot holding the pair, or -1. Read `rank(at:)` / `mergedID(at:)` from it.
    @inline(__always)
    func find(_ a: Int32, _ b: Int32) -> Int {
        let k = PairTable.key(a, b)
        return keys.withUnsafeBufferPointer { keys in
            var s = PairTable.slot(k, mask)
            while true {
                let stored = keys[s]
                if stored == k { return s }
                if stored == PairTable.empty { return -1 }
                s = (s + 1) & mask
            }
        }
    }

    @inline(__always) func rank(at slot: Int) -> Int32 { ranks[slot] }
    @inline(__always) func mergedID(at slot: Int) -> Int32 { merged[slot] }

    /// All entries as (left, right, rank, merged id).
    func entries() -> [(Int32, Int32, Int32, Int32)] {
        var out: [(Int32, Int32, Int32, Int32)] = []
        out.reserveCapacity(count)
        for s in 0..<keys.count where keys[s] != PairTable.empty {
            out.append((Int32(bitPattern: UInt32(keys[s] >> 32)), Int32(bitPattern: UInt32(truncatingIfNeeded: keys[s])),
                        ranks[s], merged[s]))
        }
        return out
    }

    private mutating func grow() {
        let old = (keys, ranks, merged)
        let capacity = keys.count * 2
        keys = [UInt64](repeating: PairTable.empty, count: capacity)
        ranks = [Int32](repeating: 0, count: capacity)
        merged = [Int32](repeating: 0, count: capacity)
        mask = capacity - 1
        for s in 0..<old.0.count where old.0[s] != PairTable.empty {
            var t = PairTable.slot(old.0[s], mask)
            while keys[t] != PairTable.empty { t = (t + 1) & mask }
            keys[t] = old.0[s]; ranks[t] = old.1[s]; merged[t] = old.2[s]
        }
    }
}
