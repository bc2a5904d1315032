// Huffman coding of the vocabulary for hierarchical softmax: each word gets the binary code of its path from the root
// and the inner-node ids (rows of `syn1`) along it. Follows word2vec.c `CreateBinaryTree` (two-queue construction over
// counts sorted in descending order), so the tree is optimal; tie-breaking may differ from gensim's heap-based build.

/// Codes and inner-node paths for every word; node ids are `0..<wordCount-1`, the root is `wordCount - 2`.
public struct HuffmanTree: Sendable {
    /// Concatenated codes (0/1) of all words; word `w` owns `codes[offsets[w]..<offsets[w+1]]`.
    public let codes: [UInt8]
    /// Concatenated inner-node ids, aligned with `codes`.
    public let points: [Int32]
    /// Start of each word's code in `codes`/`points`; `offsets.count == wordCount + 1`.
    public let offsets: [Int]

    /// Builds the tree for `counts`, which must be sorted in descending order (as `Word2VecVocabulary.counts` is).
    public init(counts: [Int64]) {
        let n = counts.count
        guard n > 1 else {
            codes = [0]; points = [0]; offsets = n == 1 ? [0, 1] : [0]
            return
        }
        var count = [Int64](repeating: Int64.max / 4, count: 2 * n)
        var binary = [UInt8](repeating: 0, count: 2 * n)
        var parent = [Int](repeating: 0, count: 2 * n)
        for i in 0..<n { count[i] = counts[i] }
        var pos1 = n - 1, pos2 = n
        for a in 0..<(n - 1) {
            var min1: Int, min2: Int
            if pos1 >= 0 && count[pos1] < count[pos2] { min1 = pos1; pos1 -= 1 } else { min1 = pos2; pos2 += 1 }
            if pos1 >= 0 && count[pos1] < count[pos2] { min2 = pos1; pos1 -= 1 } else { min2 = pos2; pos2 += 1 }
            count[n + a] = count[min1] + count[min2]
            parent[min1] = n + a
            parent[min2] = n + a
            binary[min2] = 1
        }
        var codes: [UInt8] = [], points: [Int32] = [], offsets = [0]
        var code: [UInt8] = [], point: [Int32] = []
        for w in 0..<n {
            code.removeAll(keepingCapacity: true); point.removeAll(keepingCapacity: true)
            var b = w
            while b != 2 * n - 2 {
                code.append(binary[b])
                b = parent[b]
                point.append(Int32(b - n))
            }
            // Stored root-first, as word2vec.c does after reversing.
            codes.append(contentsOf: code.reversed())
            points.append(contentsOf: point.reversed())
            offsets.append(codes.count)
        }
        self.codes = codes; self.points = points; self.offsets = offsets
    }

    /// Code length of word `w`.
    public func codeLength(_ w: Int) -> Int { offsets[w + 1] - offsets[w] }
}
