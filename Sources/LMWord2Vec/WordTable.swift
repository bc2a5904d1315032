// An open-addressing hash table from UTF-8 byte strings to dense Int32 ids, used to count and look up corpus tokens
// without creating a Swift String per token (the corpus is re-tokenized every epoch). FNV-1a hashing, linear probing.
// Not thread-safe for insertion; lookups are read-only and safe from many threads once building is done.

/// Maps byte strings to ids `0..<count` in insertion order; keeps each key's bytes in one arena.
struct WordTable {
    private(set) var keyBytes: [UInt8] = []
    private(set) var keyStarts: [Int] = [0]
    private var slots: [Int32]
    private var mask: Int

    init(capacity: Int = 1 << 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
    }

    var count: Int { keyStarts.count - 1 }

    @inline(__always)
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    @inline(__always)
    private func keyEquals(_ id: Int, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = keyStarts[id], end = keyStarts[id + 1]
        if end - start != bytes.count { return false }
        return keyBytes.withUnsafeBufferPointer { arena in
            memcmp(arena.baseAddress! + start, bytes.baseAddress!, bytes.count) == 0
        }
    }

    /// The id of `bytes`, or -1 when absent.
    @inline(__always)
    func find(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32 {
        var slot = WordTable.hash(bytes) & mask
        while true {
            let id = slots[slot]
            if id < 0 || keyEquals(Int(id), bytes) { return id }
            slot = (slot + 1) & mask
        }
    }

    /// The id of `bytes`, inserting it with the next id when absent; `inserted` says which happened.
    mutating func findOrInsert(_ bytes: UnsafeBufferPointer<UInt8>) -> (id: Int32, inserted: Bool) {
        var slot = WordTable.hash(bytes) & mask
        while true {
            let id = slots[slot]
            if id < 0 { break }
            if keyEquals(Int(id), bytes) { return (id, false) }
            slot = (slot + 1) & mask
        }
        let id = Int32(count)
        keyBytes.append(contentsOf: bytes)
        keyStarts.append(keyBytes.count)
        slots[slot] = id
        if count * 2 > slots.count { grow() }
        return (id, true)
    }

    /// The bytes of key `id` as a String (invalid UTF-8 is repaired, as gensim's `unicode_errors='replace'` would).
    func key(_ id: Int) -> String {
        String(decoding: keyBytes[keyStarts[id]..<keyStarts[id + 1]], as: UTF8.self)
    }

    private mutating func grow() {
        let size = slots.count * 2
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        keyBytes.withUnsafeBufferPointer { arena in
            for id in 0..<count {
                let bytes = UnsafeBufferPointer(rebasing: arena[keyStarts[id]..<keyStarts[id + 1]])
                var slot = WordTable.hash(bytes) & mask
                while slots[slot] >= 0 { slot = (slot + 1) & mask }
                slots[slot] = Int32(id)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
