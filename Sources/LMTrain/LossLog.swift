// The loss curve of a run: out_dir/loss.csv (one row per logged step: step, train loss, val loss, lr, tokens/s) and
// out_dir/loss.svg, a small self-written SVG line chart (axes, ticks, labels, legend; no plotting dependency).
// The CSV is appended line by line; on resume rows at or after the resumed step are dropped so the file matches an
// uninterrupted run. The SVG is rewritten atomically.
import Foundation

/// One logged step. Empty cells are nil (val loss exists only at eval steps).
public struct LossRow: Equatable {
    public var step: Int
    public var trainLoss: Double?
    public var valLoss: Double?
    public var learningRate: Double
    public var tokensPerSecond: Double?

    public init(step: Int, trainLoss: Double?, valLoss: Double?, learningRate: Double, tokensPerSecond: Double?) {
        self.step = step
        self.trainLoss = trainLoss
        self.valLoss = valLoss
        self.learningRate = learningRate
        self.tokensPerSecond = tokensPerSecond
    }

    static let header = "step,train_loss,val_loss,lr,tokens_per_second"

    var csvLine: String {
        func cell(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "" }
        return "\(step),\(cell(trainLoss, "%.6f")),\(cell(valLoss, "%.6f")),\(String(format: "%.6e", learningRate)),\(cell(tokensPerSecond, "%.1f"))"
    }

    init?(csvLine line: String) {
        let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard cells.count == 5, let step = Int(cells[0]), let lr = Double(cells[3]) else { return nil }
        self.init(step: step, trainLoss: Double(cells[1]), valLoss: Double(cells[2]), learningRate: lr, tokensPerSecond: Double(cells[4]))
    }
}

/// The CSV and SVG of one out_dir.
public final class LossLog {
    public let csvPath: String
    public let svgPath: String
    public private(set) var rows: [LossRow] = []
    private var handle: FileHandle?

    /// Starts a fresh log, or (resuming at `resumeStep`) keeps the existing rows before that step.
    public init(directory: String, resumeStep: Int?) throws {
        csvPath = (directory as NSString).appendingPathComponent("loss.csv")
        svgPath = (directory as NSString).appendingPathComponent("loss.svg")
        if let resumeStep, let text = try? String(contentsOfFile: csvPath, encoding: .utf8) {
            rows = text.split(separator: "\n").dropFirst().compactMap { LossRow(csvLine: String($0)) }.filter { $0.step < resumeStep }
        }
        try writeAtomically(Array((([LossRow.header] + rows.map(\.csvLine)).joined(separator: "\n") + "\n").utf8), to: csvPath)
        handle = FileHandle(forWritingAtPath: csvPath)
        handle?.seekToEndOfFile()
    }

    deinit { try? handle?.close() }

    /// Appends a row to memory and to the CSV.
    public func append(_ row: LossRow) {
        rows.append(row)
        handle?.write(Data((row.csvLine + "\n").utf8))
    }

    /// Rewrites loss.svg from the rows so far.
    public func writeChart(title: String) throws { try writeAtomically(Array(LossChart.svg(rows: rows, title: title).utf8), to: svgPath) }
}

/// A minimal SVG line chart of train and val loss against step.
public enum LossChart {
    /// "Nice" tick values covering `low...high` (1, 2, 5 × 10^k steps).
    static func ticks(_ low: Double, _ high: Double, count: Int = 6) -> [Double] {
        guard high > low else { return [low] }
        let raw = (high - low) / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2.0, 5.0, 10.0].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var out: [Double] = []
        var v = ceil(low / step) * step
        while v <= high + step * 1e-9 { out.append(v); v += step }
        return out
    }

    public static func svg(rows: [LossRow], title: String) -> String {
        let width = 800.0, height = 480.0, left = 70.0, right = 20.0, top = 40.0, bottom = 55.0
        let train = rows.compactMap { r in r.trainLoss.map { (Double(r.step), $0) } }
        let val = rows.compactMap { r in r.valLoss.map { (Double(r.step), $0) } }
        let all = train + val
        let maxStep = max(1, all.map(\.0).max() ?? 1)
        var low = all.map(\.1).min() ?? 0, high = all.map(\.1).max() ?? 1
        if high - low < 1e-9 { low -= 0.5; high += 0.5 }
        let pad = (high - low) * 0.05
        low -= pad; high += pad
        func x(_ s: Double) -> Double { left + s / maxStep * (width - left - right) }
        func y(_ v: Double) -> Double { top + (high - v) / (high - low) * (height - top - bottom) }
        func path(_ points: [(Double, Double)]) -> String {
            points.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
        }
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="22" text-anchor="middle" font-size="15">\(escape(title))</text>

        """
        for t in ticks(low, high) {
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>", left, y(t), width - right, y(t))
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%@</text>\n", left - 6, y(t) + 4, String(format: "%.3g", t))
        }
        for t in ticks(0, maxStep) {
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>", x(t), height - bottom, x(t), height - bottom + 5)
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>\n", x(t), height - bottom + 18, String(format: "%.0f", t))
        }
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", left, top, left, height - bottom)
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", left, height - bottom, width - right, height - bottom)
        s += "<text x=\"\((left + width - right) / 2)\" y=\"\(height - 12)\" text-anchor=\"middle\">step</text>\n"
        s += "<text x=\"16\" y=\"\((top + height - bottom) / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 16 \((top + height - bottom) / 2))\">loss (nats/token)</text>\n"
        if !train.isEmpty { s += "<polyline fill=\"none\" stroke=\"#4c72b0\" stroke-width=\"1\" points=\"\(path(train))\"/>\n" }
        if !val.isEmpty {
            s += "<polyline fill=\"none\" stroke=\"#dd8452\" stroke-width=\"2\" points=\"\(path(val))\"/>\n"
            for p in val { s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#dd8452\"/>", x(p.0), y(p.1)) }
            s += "\n"
        }
        let lx = width - right - 150
        s += "<line x1=\"\(lx)\" y1=\"\(top + 10)\" x2=\"\(lx + 24)\" y2=\"\(top + 10)\" stroke=\"#4c72b0\"/><text x=\"\(lx + 30)\" y=\"\(top + 14)\">train (batch)</text>\n"
        s += "<line x1=\"\(lx)\" y1=\"\(top + 28)\" x2=\"\(lx + 24)\" y2=\"\(top + 28)\" stroke=\"#dd8452\" stroke-width=\"2\"/><text x=\"\(lx + 30)\" y=\"\(top + 32)\">val (estimate)</text>\n"
        return s + "</svg>\n"
    }
}
