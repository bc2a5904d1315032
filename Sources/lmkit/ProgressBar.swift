// The one progress display of the CLI: `title [#####.....]  42.0% detail  12.3s` on stderr, redrawn in place at most
// ten times a second on a terminal; off a terminal (logs, CI) a plain line at most once a second and at the end.
// Thread-safe, because trainers report from worker threads.
import Foundation

final class ProgressBar: @unchecked Sendable {
    private let title: String
    private let enabled: Bool
    private let isTerminal = isatty(2) != 0
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let lock = NSLock()

    /// A disabled bar (`enabled: false`, e.g. for `--quiet`) prints nothing.
    init(_ title: String, enabled: Bool = true) {
        self.title = title
        self.enabled = enabled
    }

    /// Shows `fraction` (clamped to 0…1) of the work done, with an optional detail (stage name, rate).
    func update(_ fraction: Double, _ detail: String = "") {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let f = Swift.min(1, Swift.max(0, fraction.isFinite ? fraction : 0))
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= (isTerminal ? 0.1 : 1) || f >= 1 else { return }
        lastDraw = now
        let width = 30, filled = Int(f * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = String(format: "%@ [%@] %5.1f%% %@ %.1fs", title, bar, f * 100, detail, now.timeIntervalSince(start))
        FileHandle.standardError.write(Data((isTerminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    /// Ends the line on a terminal.
    func finish() {
        guard enabled, isTerminal else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
