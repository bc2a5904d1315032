// Shared benchmark plumbing: timing, running a Python reference script in the same command, and printing rows
// with the LMKit/reference ratio. Benchmarks are meant for release builds (`swift build -c release`).
import Foundation

public enum Bench {
    /// Median wall seconds of `runs` calls after `warmup` untimed calls.
    public static func median(runs: Int = 5, warmup: Int = 1, _ body: () -> Void) -> Double {
        for _ in 0..<warmup { body() }
        var times: [Double] = []
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        times.sort()
        return times[times.count / 2]
    }

    /// The repository root (benchmarks find their reference scripts relative to it).
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Runs `python3 Benchmarks/reference/<script> args…` and decodes its JSON stdout (a dictionary row name → seconds or
    /// other numbers). Throws with the script's stderr when it fails.
    public static func runReference(_ script: String, _ args: [String]) throws -> [String: Double] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", repositoryRoot.appendingPathComponent("Benchmarks/reference/\(script)").path] + args
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError(message: "reference \(script) failed (\(process.terminationStatus)): \(String(decoding: errData, as: UTF8.self))")
        }
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw BenchError(message: "reference \(script) printed no JSON object")
        }
        return json.compactMapValues { ($0 as? NSNumber)?.doubleValue }
    }
}

public struct BenchError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
