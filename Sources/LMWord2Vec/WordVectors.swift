// Word vectors for querying: cosine `mostSimilar` with positive and negative words, `similarity`, and a lookup that
// maps words to rows. Follows gensim 4.4 `KeyedVectors.most_similar` (mean of unit vectors weighted +1/−1, unit-normalised,
// input words excluded, optional `restrict_vocab` prefix). Does not do 3CosMul or approximate (indexed) search.
import Foundation
import LMKernels

/// Words and their vectors (row-major `count × dimension`), in the file's or vocabulary's order (most frequent first).
public struct WordVectors: Sendable {
    /// Words in row order.
    public let words: [String]
    /// Vector dimension.
    public let dimension: Int
    /// Row-major vectors, `words.count × dimension`.
    public let vectors: [Float]
    /// Row of each word (the first row wins if a file repeats a word, as gensim does).
    public let index: [String: Int]
    /// Unit-normalised copy of `vectors` (zero rows stay zero), used by every cosine query.
    public let unitVectors: [Float]

    /// Wraps `vectors`; precondition: `vectors.count == words.count * dimension`.
    public init(words: [String], dimension: Int, vectors: [Float]) {
        precondition(vectors.count == words.count * dimension, "vector count does not match words × dimension")
        self.words = words
        self.dimension = dimension
        self.vectors = vectors
        var index = [String: Int](minimumCapacity: words.count)
        for (i, w) in words.enumerated() where index[w] == nil { index[w] = i }
        self.index = index
        var unit = vectors
        unit.withUnsafeMutableBufferPointer { p in
            for r in 0..<words.count { VectorKernels.normalize(p.baseAddress! + r * dimension, count: dimension) }
        }
        unitVectors = unit
    }

    /// The vector of `word`, or nil when absent.
    public func vector(_ word: String) -> ArraySlice<Float>? {
        guard let r = index[word] else { return nil }
        return vectors[(r * dimension)..<((r + 1) * dimension)]
    }

    /// Cosine similarity of two rows.
    public func similarity(row a: Int, row b: Int) -> Float {
        unitVectors.withUnsafeBufferPointer { u in
            VectorKernels.dot(u.baseAddress! + a * dimension, u.baseAddress! + b * dimension, count: dimension)
        }
    }

    /// Cosine similarity of two words; throws naming the missing word.
    public func similarity(_ a: String, _ b: String) throws -> Float {
        guard let ra = index[a] else { throw Word2VecError("word '\(a)' not in vocabulary") }
        guard let rb = index[b] else { throw Word2VecError("word '\(b)' not in vocabulary") }
        return similarity(row: ra, row: rb)
    }

    /// gensim `most_similar(positive, negative, topn, restrict_vocab)`: the `topn` rows closest by cosine to
    /// `unit(Σ unit(p) − Σ unit(n))`, excluding the query words, searched among the first `restrictVocab` rows.
    /// Throws naming the first word not in the vocabulary.
    public func mostSimilar(positive: [String], negative: [String] = [], topn: Int = 10,
                            restrictVocab: Int? = nil) throws -> [(word: String, similarity: Float)] {
        func row(_ w: String) throws -> Int {
            guard let r = index[w] else { throw Word2VecError("word '\(w)' not in vocabulary") }
            return r
        }
        let pos = try positive.map(row), neg = try negative.map(row)
        guard !(pos.isEmpty && neg.isEmpty) else { throw Word2VecError("most_similar needs at least one word") }
        guard topn >= 0 else { throw Word2VecError("topn must be ≥ 0, got \(topn)") }
        if let restrictVocab, restrictVocab < 1 { throw Word2VecError("restrict_vocab must be ≥ 1, got \(restrictVocab)") }
        return mostSimilar(positiveRows: pos, negativeRows: neg, topn: topn, restrictVocab: restrictVocab)
            .map { (words[$0.row], $0.similarity) }
    }

    /// `mostSimilar` on row numbers; returns rows and similarities, best first.
    public func mostSimilar(positiveRows: [Int], negativeRows: [Int], topn: Int,
                            restrictVocab: Int? = nil) -> [(row: Int, similarity: Float)] {
        let d = dimension
        var query = [Float](repeating: 0, count: d)
        unitVectors.withUnsafeBufferPointer { u in
            query.withUnsafeMutableBufferPointer { q in
                for r in positiveRows { VectorKernels.axpy(1, u.baseAddress! + r * d, q.baseAddress!, count: d) }
                for r in negativeRows { VectorKernels.axpy(-1, u.baseAddress! + r * d, q.baseAddress!, count: d) }
                VectorKernels.normalize(q.baseAddress!, count: d)
            }
        }
        let limit = max(0, min(words.count, restrictVocab ?? words.count))
        // No more results than rows: a hostile topn (10^11) must not size the buffer.
        let topn = max(0, min(topn, limit))
        let exclude = Set(positiveRows + negativeRows)
        // Keep the best `topn` in a small sorted buffer (topn is small; a heap would not pay off).
        var best: [(row: Int, similarity: Float)] = []
        best.reserveCapacity(topn + 1)
        guard topn > 0 else { return [] }
        unitVectors.withUnsafeBufferPointer { u in
            query.withUnsafeBufferPointer { q in
                for r in 0..<limit {
                    let s = VectorKernels.dot(u.baseAddress! + r * d, q.baseAddress!, count: d)
                    if best.count == topn && s <= best[topn - 1].similarity { continue }
                    if exclude.contains(r) { continue }
                    var pos = best.count
                    while pos > 0 && best[pos - 1].similarity < s { pos -= 1 }
                    best.insert((r, s), at: pos)
                    if best.count > topn { best.removeLast() }
                }
            }
        }
        return best
    }
}
