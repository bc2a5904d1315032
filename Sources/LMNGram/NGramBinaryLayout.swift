// LMKit's n-gram binary format, version 1 (Docs/Formats.md, "LMKit n-gram binary"): a 1024-byte header of 128
// little-endian UInt64 fields, then the vocabulary, the unigram array and one open-addressing table per order ≥ 2.
// This file writes the image and validates one before it is used; it never trusts a field it has not range-checked.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct NGramBinaryLayout {
    static let magic: UInt64 = 0x4D41_5247_4E4B_4D4C   // "LMKNGRAM" read as little-endian UInt64
    static let version: UInt64 = 1
    static let headerFields = 128
    static let headerBytes = headerFields * 8

    // Header field indices.
    static let fieldMagic = 0, fieldVersion = 1, fieldOrder = 2, fieldVocabularySize = 3, fieldFileSize = 4
    static let fieldVocabularyOffsets = 5, fieldVocabularyBlob = 6, fieldVocabularyBlobLength = 7
    static let fieldVocabularyTable = 8, fieldVocabularyTableSlots = 9, fieldUnigrams = 10
    static let fieldCounts = 16, fieldTableSlots = 32, fieldTableOffsets = 48, fieldWordIdOffsets = 64

    var order = 0
    var vocabularySize = 0
    var fileSize = 0
    var vocabularyOffsetsOffset = 0
    var vocabularyBlobOffset = 0
    var vocabularyBlobLength = 0
    var vocabularyTableOffset = 0
    var vocabularyTableSlots = 0
    var unigramOffset = 0
    var counts: [Int] = []
    var tableSlots: [Int] = []
    var tableOffsets: [Int] = []
    var wordIdOffsets: [Int] = []

    /// Reads and range-checks the header of `image`; errors name `file` and the offending field.
    init(validating image: UnsafeRawBufferPointer, file: String) throws {
        func fail(_ message: String) -> NGramError { NGramError(file: file, message) }
        guard image.count >= Self.headerBytes else {
            throw fail("\(image.count) bytes: shorter than the \(Self.headerBytes)-byte header; not an LMKit n-gram binary")
        }
        func field(_ index: Int) -> UInt64 { image.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self) }
        guard field(Self.fieldMagic) == Self.magic else {
            throw fail("bad magic: not an LMKit n-gram binary (expected the file to start with \"LMKNGRAM\"; ARPA files load with --arpa)")
        }
        guard field(Self.fieldVersion) == Self.version else {
            throw fail("binary format version \(field(Self.fieldVersion)); this LMKit reads version \(Self.version): rebuild it with `lmkit ngram convert` from the ARPA file")
        }
        let size = UInt64(image.count)
        guard field(Self.fieldFileSize) == size else {
            throw fail("header says \(field(Self.fieldFileSize)) bytes but the file has \(size): truncated or damaged")
        }
        func checkedInt(_ index: Int, _ name: String, max: UInt64) throws -> Int {
            let value = field(index)
            guard value <= max else { throw fail("header field \(name) = \(value) is out of range (≤ \(max))") }
            return Int(value)
        }
        order = try checkedInt(Self.fieldOrder, "order", max: UInt64(NGramModel.maximumOrder))
        guard order >= 1 else { throw fail("header field order = 0; expected 1…\(NGramModel.maximumOrder)") }
        vocabularySize = try checkedInt(Self.fieldVocabularySize, "vocabulary_size", max: UInt64(UInt32.max))
        guard vocabularySize >= 3 else { throw fail("header field vocabulary_size = \(vocabularySize); expected ≥ 3 (<unk>, <s>, </s>)") }
        fileSize = image.count
        func section(_ index: Int, _ name: String, bytes: Int) throws -> Int {
            let offset = try checkedInt(index, name, max: size)
            guard offset % 8 == 0, bytes >= 0, offset + bytes <= image.count else {
                throw fail("section \(name) at offset \(offset) with \(bytes) bytes does not fit the \(image.count)-byte file (or is misaligned)")
            }
            return offset
        }
        vocabularyOffsetsOffset = try section(Self.fieldVocabularyOffsets, "vocabulary_offsets", bytes: (vocabularySize + 1) * 8)
        vocabularyBlobLength = try checkedInt(Self.fieldVocabularyBlobLength, "vocabulary_blob_length", max: size)
        vocabularyBlobOffset = try section(Self.fieldVocabularyBlob, "vocabulary_blob", bytes: vocabularyBlobLength)
        vocabularyTableSlots = try checkedInt(Self.fieldVocabularyTableSlots, "vocabulary_table_slots", max: size)
        guard vocabularyTableSlots > vocabularySize, vocabularyTableSlots & (vocabularyTableSlots - 1) == 0 else {
            throw fail("header field vocabulary_table_slots = \(vocabularyTableSlots); expected a power of two above the vocabulary size")
        }
        vocabularyTableOffset = try section(Self.fieldVocabularyTable, "vocabulary_table", bytes: vocabularyTableSlots * 16)
        unigramOffset = try section(Self.fieldUnigrams, "unigrams", bytes: vocabularySize * 8)
        // Vocabulary offsets must be non-decreasing and inside the blob, or word() would read outside the file.
        var previous: UInt64 = 0
        for id in 0...vocabularySize {
            let value = image.loadUnaligned(fromByteOffset: vocabularyOffsetsOffset + id * 8, as: UInt64.self)
            guard value >= previous, value <= UInt64(vocabularyBlobLength) else {
                throw fail("vocabulary offset \(id) = \(value) is outside the \(vocabularyBlobLength)-byte word blob or out of order")
            }
            previous = value
        }
        for id in 0..<vocabularyTableSlots {
            let value = image.loadUnaligned(fromByteOffset: vocabularyTableOffset + id * 16 + 8, as: UInt64.self)
            guard value <= UInt64(vocabularySize) else {
                throw fail("vocabulary table slot \(id) holds word id + 1 = \(value), beyond the vocabulary size \(vocabularySize)")
            }
        }
        counts = [vocabularySize]
        tableSlots = [0]
        tableOffsets = [0]
        wordIdOffsets = [0]
        for n in stride(from: 2, through: order, by: 1) {
            let count = try checkedInt(Self.fieldCounts + n - 1, "count[\(n)]", max: size)
            let slots = try checkedInt(Self.fieldTableSlots + n - 1, "table_slots[\(n)]", max: size)
            guard slots > count, slots & (slots - 1) == 0 else {
                throw fail("header field table_slots[\(n)] = \(slots); expected a power of two above count[\(n)] = \(count)")
            }
            counts.append(count)
            tableSlots.append(slots)
            tableOffsets.append(try section(Self.fieldTableOffsets + n - 1, "table[\(n)]", bytes: slots * 16))
            wordIdOffsets.append(try section(Self.fieldWordIdOffsets + n - 1, "word_ids[\(n)]", bytes: slots * n * 4))
        }
        try validateSections(image, fail: fail)
    }

    /// Checks the sections' contents, not just their places: a damaged file whose header checks pass must not index
    /// outside the vocabulary (dumping or converting it), loop forever in a full hash table (a lookup stops only at an
    /// empty slot), or score with non-finite numbers. One pass over the file, linear in its size.
    private func validateSections(_ image: UnsafeRawBufferPointer, fail: (String) -> NGramError) throws {
        var occupiedWords = 0
        for slot in 0..<vocabularyTableSlots where image.loadUnaligned(fromByteOffset: vocabularyTableOffset + slot * 16 + 8, as: UInt64.self) != 0 {
            occupiedWords += 1
        }
        guard occupiedWords == vocabularySize else {
            throw fail("vocabulary table holds \(occupiedWords) words, header says vocabulary_size = \(vocabularySize)")
        }
        for id in 0..<vocabularySize {
            let p = image.loadUnaligned(fromByteOffset: unigramOffset + id * 8, as: Float.self)
            let b = image.loadUnaligned(fromByteOffset: unigramOffset + id * 8 + 4, as: Float.self)
            guard p.isFinite, p <= 0, b.isFinite else {
                throw fail("unigram \(id) has log10 probability \(p) and back-off \(b); expected finite numbers, the probability ≤ 0")
            }
        }
        for n in stride(from: 2, through: order, by: 1) {
            var occupied = 0
            for slot in 0..<tableSlots[n - 1] {
                let base = tableOffsets[n - 1] + slot * 16
                guard image.loadUnaligned(fromByteOffset: base, as: UInt64.self) != 0 else { continue }
                occupied += 1
                let p = image.loadUnaligned(fromByteOffset: base + 8, as: Float.self)
                let b = image.loadUnaligned(fromByteOffset: base + 12, as: Float.self)
                guard p.isFinite, p <= 0, b.isFinite else {
                    throw fail("\(n)-gram table slot \(slot) has log10 probability \(p) and back-off \(b); expected finite numbers, the probability ≤ 0")
                }
                for j in 0..<n {
                    let id = image.loadUnaligned(fromByteOffset: wordIdOffsets[n - 1] + (slot * n + j) * 4, as: UInt32.self)
                    guard Int(id) < vocabularySize else {
                        throw fail("\(n)-gram table slot \(slot) uses word id \(id), beyond the vocabulary size \(vocabularySize)")
                    }
                }
            }
            guard occupied == counts[n - 1] else {
                throw fail("\(n)-gram table holds \(occupied) n-grams, header says count[\(n)] = \(counts[n - 1])")
            }
        }
    }

    /// Serializes list-form tables into a binary image (the bytes of a version-1 file).
    static func makeImage(from tables: NGramTables) throws -> [UInt8] {
        let order = tables.order
        let vocabularySize = tables.vocabulary.count
        guard order >= 1, order <= NGramModel.maximumOrder else {
            throw NGramError(file: "", "model order \(order) is outside 1…\(NGramModel.maximumOrder)")
        }
        guard vocabularySize >= 3, vocabularySize < Int(UInt32.max) else {
            throw NGramError(file: "", "vocabulary of \(vocabularySize) words; expected 3 (<unk>, <s>, </s>) to 2^32-2")
        }
        guard tables.orders[0].count == vocabularySize else {
            throw NGramError(file: "", "\(tables.orders[0].count) unigrams for \(vocabularySize) vocabulary words; expected one per word")
        }
        // Layout pass: compute every section's offset (8-byte aligned).
        var cursor = headerBytes
        func take(_ bytes: Int) -> Int {
            let offset = cursor
            cursor += (bytes + 7) & ~7
            return offset
        }
        var blob: [UInt8] = []
        var wordOffsets: [UInt64] = [0]
        wordOffsets.reserveCapacity(vocabularySize + 1)
        for word in tables.vocabulary {
            blob.append(contentsOf: word.utf8)
            wordOffsets.append(UInt64(blob.count))
        }
        let vocabularySlots = NGramHashing.powerOfTwo(atLeast: vocabularySize * 2)
        let offsetsOffset = take((vocabularySize + 1) * 8)
        let blobOffset = take(blob.count)
        let vocabularyTableOffset = take(vocabularySlots * 16)
        let unigramOffset = take(vocabularySize * 8)
        var slots = [Int](repeating: 0, count: order + 1)
        var tableOffsets = [Int](repeating: 0, count: order + 1)
        var idOffsets = [Int](repeating: 0, count: order + 1)
        for n in stride(from: 2, through: order, by: 1) {
            // Load factor between 0.375 and 0.75: KenLM's probing default is 1/1.5.
            slots[n] = NGramHashing.powerOfTwo(atLeast: tables.orders[n - 1].count * 4 / 3 + 1)
            tableOffsets[n] = take(slots[n] * 16)
            idOffsets[n] = take(slots[n] * n * 4)
        }
        var image = [UInt8](repeating: 0, count: cursor)
        try image.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress!
            func setField(_ index: Int, _ value: Int) { raw.storeBytes(of: UInt64(value), toByteOffset: index * 8, as: UInt64.self) }
            raw.storeBytes(of: magic, toByteOffset: fieldMagic * 8, as: UInt64.self)
            raw.storeBytes(of: version, toByteOffset: fieldVersion * 8, as: UInt64.self)
            setField(fieldOrder, order)
            setField(fieldVocabularySize, vocabularySize)
            setField(fieldFileSize, cursor)
            setField(fieldVocabularyOffsets, offsetsOffset)
            setField(fieldVocabularyBlob, blobOffset)
            setField(fieldVocabularyBlobLength, blob.count)
            setField(fieldVocabularyTable, vocabularyTableOffset)
            setField(fieldVocabularyTableSlots, vocabularySlots)
            setField(fieldUnigrams, unigramOffset)
            setField(fieldCounts, vocabularySize)
            // Vocabulary.
            wordOffsets.withUnsafeBytes { (base + offsetsOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            blob.withUnsafeBytes { if $0.count > 0 { (base + blobOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            let vocabularyTable = (base + vocabularyTableOffset).assumingMemoryBound(to: VocabularySlot.self)
            for id in 0..<vocabularySize {
                let start = Int(wordOffsets[id]), length = Int(wordOffsets[id + 1]) - start
                let hash = NGramHashing.hashBytes(base + blobOffset + start, length)
                var index = Int(truncatingIfNeeded: hash) & (vocabularySlots - 1)
                while vocabularyTable[index].idPlusOne != 0 {
                    if vocabularyTable[index].hash == hash {
                        let other = Int(vocabularyTable[index].idPlusOne - 1)
                        let otherStart = Int(wordOffsets[other]), otherLength = Int(wordOffsets[other + 1]) - otherStart
                        let same = otherLength == length && memcmp(base + blobOffset + start, base + blobOffset + otherStart, length) == 0
                        throw NGramError(file: "", same
                            ? "word \"\(tables.vocabulary[id])\" appears twice in the vocabulary (ids \(other) and \(id))"
                            : "64-bit hash collision between the words \"\(tables.vocabulary[other])\" and \"\(tables.vocabulary[id])\"; please report it")
                    }
                    index = (index + 1) & (vocabularySlots - 1)
                }
                vocabularyTable[index] = VocabularySlot(hash: hash, idPlusOne: UInt64(id + 1))
            }
            // Unigrams: (log10 p, log10 back-off) by id.
            let unigrams = (base + unigramOffset).assumingMemoryBound(to: SIMD2<Float>.self)
            for id in 0..<vocabularySize {
                let words = tables.orders[0].words(at: id)
                guard words.first == UInt32(id) else {
                    throw NGramError(file: "", "unigram \(id) is word \(words.first!); unigrams must be in id order")
                }
                unigrams[id] = SIMD2(tables.orders[0].log10Probabilities[id], tables.orders[0].log10Backoffs[id])
            }
            // Higher orders.
            for n in stride(from: 2, through: order, by: 1) {
                setField(fieldCounts + n - 1, tables.orders[n - 1].count)
                setField(fieldTableSlots + n - 1, slots[n])
                setField(fieldTableOffsets + n - 1, tableOffsets[n])
                setField(fieldWordIdOffsets + n - 1, idOffsets[n])
                let table = tables.orders[n - 1]
                let mask = slots[n] - 1
                let slotBase = (base + tableOffsets[n]).assumingMemoryBound(to: NGramSlot.self)
                let idBase = (base + idOffsets[n]).assumingMemoryBound(to: UInt32.self)
                try table.wordIds.withUnsafeBufferPointer { ids in
                    for i in 0..<table.count {
                        let words = UnsafeBufferPointer(rebasing: ids[i * n ..< (i + 1) * n])
                        for word in words where Int(word) >= vocabularySize {
                            throw NGramError(file: "", "order-\(n) n-gram \(i) uses word id \(word) beyond the vocabulary size \(vocabularySize)")
                        }
                        let key = NGramHashing.key(of: words)
                        var index = Int(truncatingIfNeeded: key) & mask
                        while slotBase[index].key != 0 {
                            if slotBase[index].key == key {
                                let same = (0..<n).allSatisfy { idBase[index * n + $0] == words[$0] }
                                let text = words.map { tables.vocabulary[Int($0)] }.joined(separator: " ")
                                throw NGramError(file: "", same
                                    ? "the \(n)-gram \"\(text)\" appears twice"
                                    : "64-bit hash collision on the \(n)-gram \"\(text)\"; please report it")
                            }
                            index = (index + 1) & mask
                        }
                        slotBase[index] = NGramSlot(key: key, log10Probability: table.log10Probabilities[i],
                                                    log10Backoff: n == order ? 0 : table.log10Backoffs[i])
                        for j in 0..<n { idBase[index * n + j] = words[j] }
                    }
                }
            }
            // Mark contexts without extensions (KenLM's right-state minimization): a zero back-off is stored as -0.0
            // when no (n+1)-gram starts with the n-gram, so a query drops it from its state and skips probes that
            // cannot hit. Scores are unchanged (-0.0 adds nothing).
            for id in 0..<vocabularySize where unigrams[id].y == 0 { unigrams[id].y = -0.0 }
            for n in stride(from: 2, to: order, by: 1) {
                let slotBase = (base + tableOffsets[n]).assumingMemoryBound(to: NGramSlot.self)
                for index in 0..<slots[n] where slotBase[index].key != 0 && slotBase[index].log10Backoff == 0 {
                    slotBase[index].log10Backoff = -0.0
                }
            }
            for n in stride(from: 2, through: order, by: 1) {
                let ids = tables.orders[n - 1].wordIds
                let lowerSlots = (base + tableOffsets[n - 1]).assumingMemoryBound(to: NGramSlot.self)
                let lowerMask = slots[n - 1] - 1
                ids.withUnsafeBufferPointer { ids in
                    for i in 0..<tables.orders[n - 1].count {
                        if n == 2 {
                            let id = Int(ids[i * 2])
                            if unigrams[id].y == 0 { unigrams[id].y = 0 }
                            continue
                        }
                        let key = NGramHashing.key(of: UnsafeBufferPointer(rebasing: ids[i * n ..< i * n + n - 1]))
                        var index = Int(truncatingIfNeeded: key) & lowerMask
                        while lowerSlots[index].key != 0 {
                            if lowerSlots[index].key == key {
                                if lowerSlots[index].log10Backoff == 0 { lowerSlots[index].log10Backoff = 0 }
                                break
                            }
                            index = (index + 1) & lowerMask
                        }
                    }
                }
            }
        }
        return image
    }
}
