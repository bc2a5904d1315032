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
    /// A /proc/meminfo field in bytes, nil when absent.
    private static func meminfo(_ field: String) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kib = Double(fields[1]) { return kib * 1024 }
        }
        return nil
    }

    /// Physical memory in bytes (MemTotal in /proc/meminfo, else sysconf pages × page size).
    package static var physicalBytes: Double {
        if let total = meminfo("MemTotal") { return total }
        let pages = Double(sysconf(Int32(_SC_PHYS_PAGES))), size = Double(sysconf(Int32(_SC_PAGESIZE)))
        return pages > 0 && size > 0 ? pages * size : Double(UInt64.max)
    }

    /// Memory a new allocation can get without swapping: MemAvailable plus free swap (the kernel's estimate; other
    /// processes change it), else physical memory.
    package static var availableBytes: Double {
        guard let available = meminfo("MemAvailable") else { return physicalBytes }
        return available + (meminfo("SwapFree") ?? 0)
    }

    /// `bytes` as "12.3 GB" (decimal units).
    package static func describe(_ bytes: Double) -> String {
        if !bytes.isFinite || bytes >= 1e15 { return String(format: "%.3g bytes", bytes) }
        if bytes >= 1e9 { return String(format: "%.1f GB", bytes / 1e9) }
        if bytes >= 1e6 { return String(format: "%.1f MB", bytes / 1e6) }
        return String(format: "%.0f KB", max(bytes / 1e3, 1))
    }

    /// Throws a message naming `what`, the estimate and the machine's memory when `bytes` exceeds the memory available.
    /// The message goes through `error` so each target throws its own error type.
    package static func check(_ bytes: Double, for what: String, error: (String) -> any Error) throws {
        let available = availableBytes
        guard bytes.isFinite, bytes <= available else {
            throw error("\(what) needs an estimated \(describe(bytes)), more than the \(describe(available)) of memory available on this machine (\(describe(physicalBytes)) in all)")
        }
    }
}
