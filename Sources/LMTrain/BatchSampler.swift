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

    /// The next batch: inputs and targets, row-major [batchSize, blockSize].
    public func next() -> (inputs: [Int], targets: [Int]) {
        let offsets = generator.integers(batchSize, low: 0, high: tokens.count - blockSize)
        var inputs = [Int](repeating: 0, count: batchSize * blockSize), targets = inputs
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
