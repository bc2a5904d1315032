// `mpirun -np 2 lmkit train` against `lmkit train` alone (issue 18): the same global batch gives the same losses and
// weights up to float32 summation order; a checkpoint written by 2 ranks resumes on 1; a rank that cannot read its
// data, or that is killed, stops the whole job with a message and leaves a loadable checkpoint. Runs the lmkit binary
// that `swift build --build-tests` puts beside the test bundle, under the Open MPI that `make` installs.
import Foundation
import LMTrain
import XCTest

final class DataParallelTests: XCTestCase {
    var dir = ""
    var data = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmdist-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let input = dir + "/input.txt"
        try String(repeating: "the cat sat on the mat. the dog sat on the log.\n", count: 60).write(toFile: input, atomically: true, encoding: .utf8)
        data = dir + "/data"
        _ = try DataPreparation.prepare(tokenizer: "char", inputPath: input, outputDirectory: data)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private var lmkit: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("lmkit").path
    }

    private func mpirun() throws -> String {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(directory)/mpirun"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw XCTSkip("mpirun not found: `make deps` installs Open MPI (libopenmpi-dev openmpi-bin)")
    }

    /// A tiny GPT with two micro-steps per optimizer step (so no_sync is exercised), several buckets (5 KB cap), no
    /// dropout (each rank draws its own dropout masks, so only a dropout-free run can match one process exactly).
    private func writeConfig(_ name: String, outDir: String, maxIters: Int = 6, batchSize: Int = 4) throws -> String {
        let path = dir + "/\(name).json"
        try """
        {"data_dir": "\(data)", "out_dir": "\(outDir)", "block_size": 16, "batch_size": \(batchSize), "gradient_accumulation_steps": 2,
         "max_iters": \(maxIters), "eval_interval": 3, "eval_iters": 2, "log_interval": 1, "learning_rate": 1e-2, "warmup_iters": 2,
         "lr_decay_iters": 12, "min_lr": 1e-3, "grad_clip": 1.0, "ddp_bucket_cap_mb": 0.005,
         "model": {"model_type": "gpt", "n_layer": 2, "n_head": 2, "n_embd": 16, "dropout": 0.0}}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private struct Run { var status: Int32; var reason: Process.TerminationReason; var stdout: String; var stderr: String }

    /// Runs `executable arguments` to the end (or `whileRunning` first, given the process).
    private func run(_ executable: String, _ arguments: [String], whileRunning: ((Process) throws -> Void)? = nil) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        // Root in CI containers; 2 ranks on fewer cores; shared memory only (no network probing).
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        environment["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        environment["OMPI_MCA_btl"] = "self,vader"
        process.environment = environment
        let out = dir + "/out-\(UUID().uuidString)", err = dir + "/err-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        try whileRunning?(process)
        process.waitUntilExit()
        return Run(status: process.terminationStatus, reason: process.terminationReason,
                   stdout: try String(contentsOfFile: out, encoding: .utf8), stderr: try String(contentsOfFile: err, encoding: .utf8))
    }

    private func train(ranks: Int?, _ arguments: [String]) throws -> Run {
        let result: Run
        if let ranks {
            result = try run(try mpirun(), ["-np", "\(ranks)", lmkit, "train", "--quiet"] + arguments)
        } else {
            result = try run(lmkit, ["train", "--quiet"] + arguments)
        }
        XCTAssertEqual(result.status, 0, "lmkit train \(arguments) on \(ranks.map(String.init) ?? "no") MPI ranks:\n\(result.stdout)\n\(result.stderr)")
        return result
    }

    private func losses(_ outDir: String) throws -> [(step: Int, train: Double?, val: Double?)] {
        try String(contentsOfFile: outDir + "/loss.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            return (Int(cells[0])!, Double(cells[1]), Double(cells[2]))
        }
    }

    /// Largest |a − b| over every weight of two checkpoints (which must hold the same names and shapes).
    private func maxWeightDifference(_ a: String, _ b: String) throws -> Float {
        let x = try TrainingCheckpoint.load(file: a + "/" + TrainingCheckpoint.fileName).weights
        let y = try TrainingCheckpoint.load(file: b + "/" + TrainingCheckpoint.fileName).weights
        XCTAssertEqual(Set(x.keys), Set(y.keys))
        var worst: Float = 0
        for (name, t) in x {
            guard let u = y[name] else { continue }
            XCTAssertEqual(t.shape, u.shape, name)
            let p = t.contiguous().pointer(Float.self), q = u.contiguous().pointer(Float.self)
            for i in 0..<t.count { worst = max(worst, abs(p[i] - q[i])) }
        }
        return worst
    }

    // Tolerances: the two runs differ only in how the batch's gradient is summed ((g₀ + g₁)/2 over the ranks against
    // one sum over all rows), a few float32 ulps that AdamW carries on. Measured on these 6 steps: weights within
    // 6e-8, losses equal to loss.csv's 6 decimals. Summing instead of averaging (a bug AdamW nearly hides) moves the
    // losses by 1e-4 to 1e-3 and fails.
    static let lossTolerance = 1e-5
    static let weightTolerance: Float = 1e-6

    private func assertSameRun(_ one: String, _ two: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let a = try losses(one), b = try losses(two)
        XCTAssertEqual(a.map(\.step), b.map(\.step), file: file, line: line)
        XCTAssertGreaterThanOrEqual(a.count, 6, file: file, line: line)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.train == nil, y.train == nil, "step \(x.step)", file: file, line: line)
            XCTAssertEqual(x.val == nil, y.val == nil, "step \(x.step)", file: file, line: line)
            if let p = x.train, let q = y.train { XCTAssertEqual(p, q, accuracy: Self.lossTolerance, "train loss, step \(x.step)", file: file, line: line) }
            if let p = x.val, let q = y.val { XCTAssertEqual(p, q, accuracy: Self.lossTolerance, "val loss, step \(x.step)", file: file, line: line) }
        }
        let difference = try maxWeightDifference(one, two)
        XCTAssertLessThan(difference, Self.weightTolerance, "largest weight difference", file: file, line: line)
        // The optimizer state too (under ZeRO the one rank 0 gathered from the owners): same entries, same values.
        let x = try TrainingCheckpoint.load(file: one + "/" + TrainingCheckpoint.fileName).optimizer
        let y = try TrainingCheckpoint.load(file: two + "/" + TrainingCheckpoint.fileName).optimizer
        XCTAssertEqual(x.stepCount, y.stepCount, file: file, line: line)
        XCTAssertEqual(Set(x.tensors.keys), Set(y.tensors.keys), file: file, line: line)
        for (key, t) in x.tensors {
            guard let u = y.tensors[key] else { continue }
            let a = t.toDoubles(), b = u.toDoubles()
            XCTAssertEqual(a.count, b.count, key, file: file, line: line)
            for (p, q) in zip(a, b) where abs(p - q) > Double(Self.weightTolerance) {
                XCTFail("\(key): \(p) vs \(q)", file: file, line: line); break
            }
        }
    }

    /// Two ranks with batch_size 4 (2 rows each) match one process with batch_size 4: losses at every step, eval losses,
    /// final weights. The losses moved (the test would notice training that did nothing).
    func testTwoRanksMatchOneProcessWithTheGlobalBatch() throws {
        _ = try mpirun()
        let one = dir + "/one", two = dir + "/two"
        try train(ranks: nil, ["--config", try writeConfig("one", outDir: one)])
        let result = try train(ranks: 2, ["--config", try writeConfig("two", outDir: two)])
        XCTAssertTrue(result.stdout.contains("data parallel over 2 ranks"), result.stdout)
        // The buckets overlap backward: all but the one holding the tied token embedding (whose gradient is complete
        // only when backward reaches the input embedding, its last use) start before backward ends.
        let overlap = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("gradient buckets: ") })
        let numbers = overlap.split(separator: " ").compactMap { Int($0) }
        XCTAssertEqual(numbers.count, 2, String(overlap))
        XCTAssertGreaterThan(numbers[1], 6, "5 KB buckets over 6 steps: several buckets per step")
        XCTAssertGreaterThanOrEqual(numbers[0] * 2, numbers[1], String(overlap))
        try assertSameRun(one, two)
        let trained = try losses(one).compactMap(\.train)
        XCTAssertLessThan(trained.last!, trained.first! - 0.1, "the run should learn something")
    }

    /// ZeRO stage 1: rank 0 keeps AdamW state for only part of the model, yet the run, and the full optimizer state in
    /// its checkpoints, match one process; its checkpoint resumes on one process.
    func testZeroStageOneMatchesOneProcessAndResumesOnOne() throws {
        _ = try mpirun()
        let one = dir + "/one", zero = dir + "/zero", switched = dir + "/zero-switched"
        try train(ranks: nil, ["--config", try writeConfig("one", outDir: one)])
        let result = try train(ranks: 2, ["--config", try writeConfig("zero", outDir: zero), "--zero_stage", "1"])
        let line = try XCTUnwrap(result.stdout.split(separator: "\n").first { $0.hasPrefix("ZeRO stage 1: rank 0 keeps") }, result.stdout)
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        XCTAssertEqual(numbers.count, 3, String(line))  // "stage 1", owned, total
        XCTAssertTrue(numbers[1] > 0 && numbers[1] * 10 < numbers[2] * 7, "rank 0 should own roughly half: \(line)")
        try assertSameRun(one, zero)
        try train(ranks: 2, ["--config", try writeConfig("zero-switched", outDir: switched, maxIters: 3), "--zero_stage", "1"])
        try train(ranks: nil, ["--config", dir + "/zero-switched.json", "--max_iters", "6", "--resume"])
        try assertSameRun(one, switched)
    }

    /// A checkpoint written by 2 ranks at step 3 resumes on 1 process to step 6 and ends where a 1-process run does.
    func testCheckpointOfTwoRanksResumesOnOne() throws {
        _ = try mpirun()
        let straight = dir + "/straight", switched = dir + "/switched"
        try train(ranks: nil, ["--config", try writeConfig("straight", outDir: straight)])
        try train(ranks: 2, ["--config", try writeConfig("switched", outDir: switched, maxIters: 3)])
        try train(ranks: nil, ["--config", dir + "/switched.json", "--max_iters", "6", "--resume"])
        try assertSameRun(straight, switched)
    }

    func testBatchNotDivisibleByRanksIsRefused() throws {
        let result = try run(try mpirun(), ["-np", "2", lmkit, "train", "--quiet", "--config", try writeConfig("odd", outDir: dir + "/odd", batchSize: 5)])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("batch_size 5 is the global micro-batch") && result.stderr.contains("multiple of 2"), result.stderr)
        XCTAssertTrue(result.stderr.contains("stopping all ranks"), result.stderr)
    }

    /// Rank 1 is given a data_dir that does not exist (MPMD launch: one config per rank): the job stops within seconds,
    /// with rank 1's reason, though rank 0 was waiting for it in the initial weight broadcast.
    func testRankThatCannotReadItsDataStopsTheJob() throws {
        let good = try writeConfig("good", outDir: dir + "/good")
        let bad = dir + "/bad.json"
        try String(contentsOfFile: good, encoding: .utf8).replacingOccurrences(of: data, with: dir + "/missing")
            .write(toFile: bad, atomically: true, encoding: .utf8)
        let start = Date()
        let result = try run(try mpirun(), ["-np", "1", lmkit, "train", "--quiet", "--config", good, ":", "-np", "1", lmkit, "train", "--quiet", "--config", bad])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("lmkit: rank 1 of 2: ") && result.stderr.contains(dir + "/missing"), result.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 60)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/good/" + TrainingCheckpoint.fileName))
    }

    /// Rank 1 is killed (SIGKILL) mid-run, after the first checkpoint: mpirun stops rank 0 and names the dead rank;
    /// the checkpoint on disk is whole (atomic writes) and loads.
    func testKilledRankStopsTheJobAndLeavesAWholeCheckpoint() throws {
        let out = dir + "/killed"
        let config = try writeConfig("killed", outDir: out, maxIters: 100_000)
        let checkpoint = out + "/" + TrainingCheckpoint.fileName
        let start = Date()
        let result = try run(try mpirun(), ["-np", "2", lmkit, "train", "--quiet", "--config", config, "--eval_interval", "2", "--lr_decay_iters", "100000"]) { mpirun in
            while !FileManager.default.fileExists(atPath: checkpoint) && Date().timeIntervalSince(start) < 60 { usleep(50_000) }
            usleep(300_000)  // a few more steps and, likely, checkpoints in progress
            let victim = try XCTUnwrap(Self.rank(1, under: mpirun.processIdentifier), "rank 1 of mpirun \(mpirun.processIdentifier) not found")
            kill(victim, SIGKILL)
        }
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("rank 1") && result.stderr.contains("signal 9"), result.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 90)
        let loaded = try TrainingCheckpoint.load(file: checkpoint)
        XCTAssertGreaterThanOrEqual(loaded.iteration, 2)
    }

    /// The pid of the process with OMPI_COMM_WORLD_RANK=`rank` among the descendants of `parent`.
    private static func rank(_ rank: Int, under parent: Int32) -> Int32? {
        var frontier = [parent]
        while let pid = frontier.popLast() {
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            for child in children.split(separator: " ").compactMap({ Int32($0) }) {
                if let environ = FileManager.default.contents(atPath: "/proc/\(child)/environ"),
                   environ.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)" }) {
                    return child
                }
                frontier.append(child)
            }
        }
        return nil
    }
}
