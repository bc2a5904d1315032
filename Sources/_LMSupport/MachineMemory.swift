// The machine's memory, for refusing work that cannot fit before it allocates (a model of 10^12 parameters, a
// vector table of 10^10 floats) instead of dying in the allocation. Physical memory comes from /proc/meminfo
// (MemTotal), falling back to sysconf; estimates are Doubles so products of hostile sizes cannot overflow.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

package enum MachineMemory {
    /// Physical memory in bytes (MemTotal in /proc/meminfo, else sysconf pages × page size).
    package static var physicalBytes: Double {
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
                let fields = line.split(separator: " ")
                if fields.count >= 2, let kib = Double(fields[1]) { return kib * 1024 }
            }
        }
        let pages = Double(sysconf(Int32(_SC_PHYS_PAGES))), size = Double(sysconf(Int32(_SC_PAGESIZE)))
        return pages > 0 && size > 0 ? pages * size : Double(UInt64.max)
    }

    /// `bytes` as "12.3 GB" (decimal units).
    package static func describe(_ bytes: Double) -> String {
        if !bytes.isFinite || bytes >= 1e15 { return String(format: "%.3g bytes", bytes) }
        if bytes >= 1e9 { return String(format: "%.1f GB", bytes / 1e9) }
        if bytes >= 1e6 { return String(format: "%.1f MB", bytes / 1e6) }
        return String(format: "%.0f KB", max(bytes / 1e3, 1))
    }

    /// Throws a message naming `what`, the estimate and the machine's memory when `bytes` exceeds physical memory.
    /// The message goes through `error` so each target throws its own error type.
    package static func check(_ bytes: Double, for what: String, error: (String) -> any Error) throws {
        let available = physicalBytes
        guard bytes.isFinite, bytes <= available else {
            throw error("\(what) needs an estimated \(describe(bytes)), more than this machine's \(describe(available)) of memory")
        }
    }
}
