// The data-parallel parts of LMTrain that need no MPI: BatchSampler's DistributedSampler-style shards and the
// ddp_bucket_cap_mb key. The runs under mpirun are in Tests/LMDistributedTests.
import Foundation
import LMTensor
import XCTest
@testable import LMTrain

final class DataParallelSamplingTests: XCTestCase {
    /// N shards of the same seed partition each unsharded batch: rank r gets rows r, r + N, …, so together they train on
    /// exactly the batch one process would, and every shard leaves the generator where one process leaves it.
    func testShardsPartitionTheUnshardedBatch() throws {
        let dir = try makeScratchDirectory("shards")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TokenFile.write(Array(0..<500), vocabularySize: 500, to: dir + "/t.bin")
        let file = try TokenFile(path: dir + "/t.bin")
        let whole = try BatchSampler(tokens: file, batchSize: 6, blockSize: 4, generator: Generator(seed: 7))
        for ranks in [2, 3, 6] {
            let shards = try (0..<ranks).map { rank -> BatchSampler in
                let s = try BatchSampler(tokens: file, batchSize: 6, blockSize: 4, generator: Generator(seed: 7))
                s.shard = (rank, ranks)
                return s
            }
            let reference = try BatchSampler(tokens: file, batchSize: 6, blockSize: 4, generator: Generator(seed: 7))
            for _ in 0..<5 {
                let all = reference.next()
                let parts = shards.map { $0.next() }
                for (rank, part) in parts.enumerated() {
                    XCTAssertEqual(shards[rank].rowsPerBatch, 6 / ranks)
                    XCTAssertEqual(part.inputs.count, 6 / ranks * 4)
                    for (k, row) in stride(from: rank, to: 6, by: ranks).enumerated() {
                        XCTAssertEqual(Array(part.inputs[k * 4..<k * 4 + 4]), Array(all.inputs[row * 4..<row * 4 + 4]), "rank \(rank) of \(ranks)")
                        XCTAssertEqual(Array(part.targets[k * 4..<k * 4 + 4]), Array(all.targets[row * 4..<row * 4 + 4]))
                    }
                }
            }
            XCTAssertTrue(shards.allSatisfy { $0.generator.offset == reference.generator.offset })
        }
        XCTAssertEqual(whole.rowsPerBatch, 6)
    }

    func testBucketCapIsValidated() throws {
        XCTAssertEqual(TrainConfig().ddpBucketCapMB, 25)
        XCTAssertEqual(try TrainConfig.load(path: nil, overrides: ["--ddp_bucket_cap_mb", "0.5"]).ddpBucketCapMB, 0.5)
        for bad in ["0", "-1", "1e9"] {
            XCTAssertThrowsError(try TrainConfig.load(path: nil, overrides: ["--ddp_bucket_cap_mb", bad])) {
                XCTAssertTrue("\($0)".contains("ddp_bucket_cap_mb"), "\($0)")
            }
        }
        XCTAssertThrowsError(try TrainConfig.load(path: nil, overrides: ["--backend", "nccl"])) {
            XCTAssertTrue("\($0)".contains("mpirun"), "\($0)")
        }
    }

    /// Without MPI the batch is checked when a group is given: a fake group of 4 ranks refuses batch_size 6.
    func testTrainerRefusesABatchTheRanksCannotShare() throws {
        let dir = try makeScratchDirectory("dp-batch")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = tinyConfig(dataDir: try prepareTinyData(in: dir), outDir: dir + "/out")
        config.batchSize = 6
        XCTAssertThrowsError(try Trainer(config: config, group: FakeGroup(rank: 1, size: 4))) {
            XCTAssertTrue("\($0)".contains("batch_size 6 is the global micro-batch") && "\($0)".contains("e.g. 4 or 8"), "\($0)")
        }
        config.batchSize = 4
        config.dataOrder = "streams"
        XCTAssertThrowsError(try Trainer(config: config, group: FakeGroup(rank: 0, size: 2))) {
            XCTAssertTrue("\($0)".contains("data_order \"streams\" trains on one rank only"), "\($0)")
        }
    }
}

/// A group that is never asked to communicate (the trainer refuses the config first).
private final class FakeGroup: DataParallelGroup {
    let rank: Int, size: Int
    init(rank: Int, size: Int) { self.rank = rank; self.size = size }
    func allreduceSum(_ values: inout [Double]) { XCTFail("no collective expected") }
    func broadcast(_ tensors: [Tensor], root: Int) { XCTFail("no collective expected") }
    func makeGradientReducer(parameters: [Tensor], bucketBytes: Int) -> any GradientReducer { fatalError("no reducer expected") }
}
