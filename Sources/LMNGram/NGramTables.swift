// The plain-list form of a back-off n-gram model: the vocabulary and, per order, each n-gram's word ids, log10
// probability and log10 back-off weight. This is what estimation produces, what the ARPA reader and writer speak, and
// what `NGramModel` (the queryable, mmap-able form) is built from and dumped back to. No lookup structure lives here.

/// Word ids KenLM fixes for the special symbols (lm/builder: `<unk>` = 0, `<s>` = 1, `</s>` = 2); LMKit uses the same.
public enum SpecialWord {
    public static let unknown: UInt32 = 0
    public static let sentenceBegin: UInt32 = 1
    public static let sentenceEnd: UInt32 = 2
    public static let unknownText = "<unk>"
    public static let sentenceBeginText = "<s>"
    public static let sentenceEndText = "</s>"
}

/// One order of a model: `count` n-grams of `order` words each.
public struct NGramOrderTable: Equatable {
    /// The n-gram length of this table (1 = unigrams).
    public let order: Int
    /// Word ids, `order` per n-gram, oldest word first: n-gram `i` is `wordIds[i*order ..< (i+1)*order]`.
    public var wordIds: [UInt32]
    /// log10 p(w_n | w_1 … w_{n-1}), one per n-gram (interpolated, as in an ARPA file).
    public var log10Probabilities: [Float]
    /// log10 back-off weight of the n-gram used as a context; 0 where it is no context and for the highest order.
    public var log10Backoffs: [Float]

    public init(order: Int, wordIds: [UInt32] = [], log10Probabilities: [Float] = [], log10Backoffs: [Float] = []) {
        self.order = order
        self.wordIds = wordIds
        self.log10Probabilities = log10Probabilities
        self.log10Backoffs = log10Backoffs
    }

    /// Number of n-grams in the table.
    public var count: Int { log10Probabilities.count }

    /// The word ids of n-gram `index`.
    public func words(at index: Int) -> ArraySlice<UInt32> { wordIds[index * order ..< (index + 1) * order] }

    /// Appends one n-gram.
    public mutating func append(words: some Collection<UInt32>, log10Probability: Float, log10Backoff: Float) {
        precondition(words.count == order, "n-gram of \(words.count) words appended to the order-\(order) table")
        wordIds.append(contentsOf: words)
        log10Probabilities.append(log10Probability)
        log10Backoffs.append(log10Backoff)
    }
}

/// A complete back-off model in list form. `orders[0]` holds the unigrams and always has one entry per vocabulary word,
/// in id order (unigram `i` is word `i`).
public struct NGramTables: Equatable {
    /// Vocabulary, indexed by word id. Ids 0, 1, 2 are `<unk>`, `<s>`, `</s>`.
    public var vocabulary: [String]
    /// Per order tables; `orders[n-1]` holds the n-grams.
    public var orders: [NGramOrderTable]

    public init(vocabulary: [String], orders: [NGramOrderTable]) {
        self.vocabulary = vocabulary
        self.orders = orders
    }

    /// The model order N (the longest n-gram).
    public var order: Int { orders.count }

    /// The number of n-grams per order, as the ARPA `\data\` section lists them.
    public var counts: [Int] { orders.map(\.count) }
}
