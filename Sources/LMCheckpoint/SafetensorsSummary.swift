// What `lmkit safetensors inspect` shows: per-tensor dtype, shape, simple statistics and the first values, plus
// the metadata. Statistics are accumulated in Double over the decoded values in fixed-size chunks, so inspecting a
// multi-GB file needs no more memory than one chunk. Not a numerical-analysis tool: no quantiles or histograms.

/// Summary statistics of one tensor's values (after decoding to float32, as `tensor(_:)` returns them).
public struct TensorStatistics: Codable, Equatable, Sendable {
    /// Number of finite values the other fields describe.
    public var finiteCount = 0
    public var nanCount = 0
    public var infinityCount = 0
    /// Smallest and largest finite value (nil when there is none).
    public var minimum: Double?
    public var maximum: Double?
    /// Mean and population standard deviation of the finite values (nil when there is none).
    public var mean: Double?
    public var standardDeviation: Double?

    enum CodingKeys: String, CodingKey {
        case finiteCount = "finite_count", nanCount = "nan_count", infinityCount = "inf_count"
        case minimum = "min", maximum = "max", mean, standardDeviation = "std"
    }
}

/// One tensor in a summary.
public struct SafetensorsTensorSummary: Codable, Equatable, Sendable {
    public let name: String
    public let dtype: String
    public let shape: [Int]
    /// Byte range in the data section.
    public let dataOffsets: [Int]
    public let statistics: TensorStatistics
    /// The first values in row-major order, decoded to float32 and widened exactly to Double.
    public let head: [Double]

    enum CodingKeys: String, CodingKey {
        case name, dtype, shape, dataOffsets = "data_offsets", statistics = "stats", head
    }
}

/// A whole file's summary (the `--json` output of `lmkit safetensors inspect`).
public struct SafetensorsSummary: Codable, Equatable, Sendable {
    public let file: String
    public let fileBytes: Int
    public let headerBytes: Int
    public let metadata: [String: String]?
    public let tensors: [SafetensorsTensorSummary]

    enum CodingKeys: String, CodingKey {
        case file, fileBytes = "file_bytes", headerBytes = "header_bytes", metadata, tensors
    }
}

extension SafetensorsFile {
    /// Statistics of `entry`'s values (NaN and ±inf counted apart, the rest in Double).
    public func statistics(of entry: SafetensorsEntry) -> TensorStatistics {
        var stats = TensorStatistics()
        var sum = 0.0, sumOfSquares = 0.0
        var minimum = Double.infinity, maximum = -Double.infinity
        let chunk = 1 << 16
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
        defer { buffer.deallocate() }
        withRawBytes(of: entry) { raw in
            guard let base = raw.baseAddress else { return }
            var start = 0
            while start < entry.elementCount {
                let n = Swift.min(chunk, entry.elementCount - start)
                decodeElements(entry.dtype, from: base + start * entry.dtype.byteSize, count: n, into: buffer)
                for i in 0..<n {
                    let v = Double(buffer[i])
                    if v.isNaN { stats.nanCount += 1; continue }
                    if v.isInfinite { stats.infinityCount += 1; continue }
                    stats.finiteCount += 1
                    sum += v
                    sumOfSquares += v * v
                    if v < minimum { minimum = v }
                    if v > maximum { maximum = v }
                }
                start += n
            }
        }
        if stats.finiteCount > 0 {
            let mean = sum / Double(stats.finiteCount)
            stats.minimum = minimum
            stats.maximum = maximum
            stats.mean = mean
            stats.standardDeviation = (Swift.max(sumOfSquares / Double(stats.finiteCount) - mean * mean, 0)).squareRoot()
        }
        return stats
    }

    /// The summary of every tensor with its first `headCount` values.
    public func summary(headCount: Int = 8) -> SafetensorsSummary {
        let tensors = entries.map { entry -> SafetensorsTensorSummary in
            let n = Swift.min(Swift.max(headCount, 0), entry.elementCount)
            var head = [Float](repeating: 0, count: n)
            if n > 0 { withRawBytes(of: entry) { decodeElements(entry.dtype, from: $0.baseAddress!, count: n, into: &head) } }
            return SafetensorsTensorSummary(name: entry.name, dtype: entry.dtype.rawValue, shape: entry.shape,
                                            dataOffsets: [entry.dataOffsets.lowerBound, entry.dataOffsets.upperBound],
                                            statistics: statistics(of: entry), head: head.map(Double.init))
        }
        return SafetensorsSummary(file: path, fileBytes: mapping.byteCount, headerBytes: headerByteCount,
                                  metadata: hasMetadata ? metadata : nil, tensors: tensors)
    }
}
