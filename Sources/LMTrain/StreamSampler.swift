// Truncated-BPTT data order (PyTorch examples/word_language_model: batchify + get_batch): the token file is cut into
// batch_size contiguous streams of ⌊N / batch_size⌋ tokens, and window i of every stream is x = s[i·T ..< i·T + T],
// y = s[i·T + 1 ..< i·T + T + 1], so row b of a batch continues row b of the previous one. Unlike get_batch, a ragged
// last window is dropped (every batch is [batch_size, block_size]); after the last window the streams restart at 0
// and the caller drops its carried state. The position is one integer (`cursor`), checkpointed for resume.

/// Consecutive windows of batch_size contiguous streams of one token file.
public final class StreamSampler {
    public let tokens: TokenFile
    public let batchSize: Int
    public let blockSize: Int
    /// Tokens per stream.
    public let streamLength: Int
    /// Whole windows per stream (one pass over the data).
    public let windowCount: Int
    /// The next window's index in 0..<windowCount.
    public var cursor = 0

    public init(tokens: TokenFile, batchSize: Int, blockSize: Int) throws {
        streamLength = tokens.count / max(batchSize, 1)
        windowCount = (streamLength - 1) / max(blockSize, 1)
        guard batchSize > 0, blockSize > 0, windowCount >= 1 else {
            throw TrainError.invalidInput("\(tokens.path): \(tokens.count) tokens cannot make \(batchSize) streams of at least block_size + 1 = \(blockSize + 1) tokens for data_order streams; use a smaller batch_size or block_size")
        }
        self.tokens = tokens
        self.batchSize = batchSize
        self.blockSize = blockSize
    }

    /// The next window: inputs and targets row-major [batchSize, blockSize]; `restart` is true when the streams start
    /// over (the first window of a pass), where carried state must be dropped.
    public func next() -> (inputs: [Int], targets: [Int], restart: Bool) {
        if cursor == windowCount { cursor = 0 }
        let restart = cursor == 0, start = cursor * blockSize
        cursor += 1
        var inputs = [Int](repeating: 0, count: batchSize * blockSize), targets = inputs
        inputs.withUnsafeMutableBufferPointer { x in
            targets.withUnsafeMutableBufferPointer { y in
                for row in 0..<batchSize {
                    let offset = row * streamLength + start
                    tokens.copyTokens(from: offset, length: blockSize, into: x.baseAddress! + row * blockSize)
                    tokens.copyTokens(from: offset + 1, length: blockSize, into: y.baseAddress! + row * blockSize)
                }
            }
        }
        return (inputs, targets, restart)
    }
}
