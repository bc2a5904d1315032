// Shared benchmark plumbing: timing, running a Python reference script in the same command, and printing rows
// with the LMKit/reference ratio. Benchmarks are meant for release builds (`swift build -c release`).
import Foundation

public enum Bench {
    /// Median wall seconds of `runs` calls after `warmup` untimed calls.
    public static func median(runs: Int = 5, warmup: Int = 1, _ body: () -> Void) -> Double {
        timed(runs: runs, warmup: warmup, body).median
    }

    /// Median and minimum wall seconds of `runs` calls after `warmup` untimed calls.
    public static func timed(runs: Int, warmup: Int = 1, _ body: () throws -> Void) rethrows -> (median: Double, min: Double) {
        for _ in 0..<warmup { try body() }
        var times: [Double] = []
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        times.sort()
        return (times[times.count / 2], times[0])
    }

    /// Medians of wall seconds and of process CPU seconds over `runs` calls after `warmup` untimed calls. On a shared,
    /// loaded machine a single-threaded call's CPU time is the steadier figure: wall time also counts the time the
    /// scheduler gave to other processes (the Python side reports `time.process_time()` the same way).
    public static func medianWallAndCPU(runs: Int = 5, warmup: Int = 1, _ body: () -> Void) -> (wall: Double, cpu: Double) {
        func cpuNow() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
        }
        for _ in 0..<warmup { body() }
        var wall: [Double] = [], cpu: [Double] = []
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds, c0 = cpuNow()
            body()
            cpu.append(cpuNow() - c0)
            wall.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        return (wall.sorted()[runs / 2], cpu.sorted()[runs / 2])
    }

    /// The repository root (benchmarks find their reference scripts relative to it).
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Runs `python3 Benchmarks/reference/<script> args…` and returns the numbers of the JSON object it prints last.
    public static func runReference(_ script: String, _ args: [String]) throws -> [String: Double] {
        let path = repositoryRoot.appendingPathComponent("Benchmarks/reference/\(script)").path
        return try runPythonJSON(script: path, args).compactMapValues { ($0 as? NSNumber)?.doubleValue }
    }

    /// Runs `python script arguments…` (stderr passes through, so pip installs and progress stay visible) and decodes the
    /// last line of its stdout as a JSON object. Every benchmark's reference side goes through here.
    public static func runPythonJSON(python: String = "python3", script: String, _ arguments: [String]) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script] + arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError(message: "reference \(script) \(arguments.joined(separator: " ")) failed with status \(process.terminationStatus) (its stderr is above)")
        }
        let lastLine = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard let object = try? JSONSerialization.jsonObject(with: Data(lastLine.utf8)) as? [String: Any] else {
            throw BenchError(message: "reference \(script) printed no JSON object on its last line: '\(lastLine)'")
        }
        return object
    }
}

public struct BenchError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
