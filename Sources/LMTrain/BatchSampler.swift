// nanoGPT's get_batch: `batch` random windows of a token file, x = data[i : i+T], y = data[i+1 : i+1+T], offsets
// uniform in [0, len − T) (torch.randint(len(data) - block_size, (batch_size,))). Offsets come from a Philox
// `Generator`, so the data order is a function of (seed, offset) and resumes exactly. Does not shuffle epochs.
import LMTensor

/// Random (inputs, targets) batches of one token file.
public final class BatchSampler {
    public let tokens: TokenFile
    public let batchSize: Int
    public let blockSize: Int
    /// The stream of window offsets; checkpoint `generator.offset` to resume the data order.
    public let generator: Generator
    /// Data parallel: this rank keeps rows index, index + count, … of each batch of `batchSize` windows
    /// (DistributedSampler's indices[rank::num_replicas]). Every rank draws all `batchSize` offsets, so the stream
    /// does not depend on the number of ranks; `count` must divide `batchSize`.
    public var shard = (index: 0, count: 1) {
        didSet { precondition(shard.count > 0 && batchSize % shard.count == 0 && (0..<shard.count).contains(shard.index), "BatchSampler: shard \(shard) of \(batchSize) rows") }
    }
    /// Rows `next()` returns: batchSize / shard.count.
    public var rowsPerBatch: Int { batchSize / shard.count }

    /// Fails when the file has no window of `blockSize + 1` tokens.
    public init(tokens: TokenFile, batchSize: Int, blockSize: Int, generator: Generator) throws {
        guard batchSize > 0, blockSize > 0 else {
            throw TrainError.invalidInput("batch_size (\(batchSize)) and block_size (\(blockSize)) must be positive")
        }
        guard tokens.count > blockSize else {
            throw TrainError.invalidInput("\(tokens.path): \(tokens.count) tokens, fewer than block_size + 1 = \(blockSize + 1); use a smaller block_size or more text")
        }
        self.tokens = tokens
        self.batchSize = batchSize
        self.blockSize = blockSize
        self.generator = generator
    }

    /// The next batch: inputs and targets, row-major [rowsPerBatch, blockSize].
    public func next() -> (inputs: [Int], targets: [Int]) {
        let drawn = generator.integers(batchSize, low: 0, high: tokens.count - blockSize)
        let offsets = shard.count == 1 ? drawn : stride(from: shard.index, to: batchSize, by: shard.count).map { drawn[$0] }
        var inputs = [Int](repeating: 0, count: offsets.count * blockSize), targets = inputs
        inputs.withUnsafeMutableBufferPointer { x in
            targets.withUnsafeMutableBufferPointer { y in
                for (row, start) in offsets.enumerated() {
                    tokens.copyTokens(from: start, length: blockSize, into: x.baseAddress! + row * blockSize)
                    tokens.copyTokens(from: start + 1, length: blockSize, into: y.baseAddress! + row * blockSize)
                }
            }
        }
        return (inputs, targets)
    }
}
