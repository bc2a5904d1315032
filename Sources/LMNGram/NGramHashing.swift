// Hash functions of the n-gram lookup tables and of the vocabulary, shared by the builder and the query path.
// They are part of the binary format (Docs/Formats.md, "LMKit n-gram binary"): changing one needs a new format version.
// N-gram keys extend leftwards, as KenLM's probing model does, so a query adds one context word per step.

@usableFromInline
enum NGramHashing {
    /// splitmix64's finalizer: a bijection of UInt64, so distinct inputs never collide at this step.
    @inlinable @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Key of the 1-gram `word`.
    @inlinable @inline(__always)
    static func unigramKey(_ word: UInt32) -> UInt64 { mix(UInt64(word)) }

    /// Key of `word` followed by the n-gram whose key is `key` (one word of context added on the left).
    @inlinable @inline(__always)
    static func extendLeft(_ key: UInt64, with word: UInt32) -> UInt64 {
        mix(((key << 23) | (key >> 41)) ^ (UInt64(word) &* 0xD6E8_FEB8_6659_FD93))
    }

    /// Slot key stored in a table: 0 marks an empty slot, so a hash of 0 is stored as 1.
    @inlinable @inline(__always)
    static func slotKey(_ key: UInt64) -> UInt64 { key == 0 ? 1 : key }

    /// Key of n-gram `words` (oldest first).
    static func key(of words: UnsafeBufferPointer<UInt32>) -> UInt64 {
        var index = words.count - 1
        var key = unigramKey(words[index])
        while index > 0 {
            index -= 1
            key = extendLeft(key, with: words[index])
        }
        return slotKey(key)
    }

    /// Hash of a word's UTF-8 bytes (8 bytes at a time, then the tail), used by the vocabulary table.
    @inlinable @inline(__always)
    static func hashBytes(_ base: UnsafeRawPointer, _ count: Int) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(count)
        var offset = 0
        while offset + 8 <= count {
            h = mix(h ^ base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        }
        if offset < count {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while offset < count {
                tail |= UInt64(base.load(fromByteOffset: offset, as: UInt8.self)) << shift
                shift += 8
                offset += 1
            }
            h = mix(h ^ tail)
        }
        return h
    }

    /// The smallest power of two ≥ `minimum` (and ≥ 2).
    static func powerOfTwo(atLeast minimum: Int) -> Int {
        var size = 2
        while size < minimum { size <<= 1 }
        return size
    }
}
