// A whole file mapped into memory with Glibc mmap (MAP_PRIVATE): the owner that tensors borrowing checkpoint bytes
// keep alive. Pages are copy-on-write: writing through a borrowed tensor (an optimizer step, an in-place op)
// changes only this process's copy, never the file, and cannot fault the way a PROT_READ-only mapping would.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of a file, mapped privately; unmapped when the last tensor or reader holding it goes away.
public final class MemoryMappedFile: @unchecked Sendable {
    /// Start of the mapping (nil for an empty file, which cannot be mapped).
    public let base: UnsafeMutableRawPointer?
    /// File size in bytes.
    public let byteCount: Int
    /// The path as given.
    public let path: String

    /// Maps `path`; throws `SafetensorsError.Kind.io` naming the file and the OS error.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SafetensorsError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SafetensorsError(.io, file: path, "cannot stat: \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw SafetensorsError(.io, file: path, "not a regular file") }
        byteCount = Int(info.st_size)
        if byteCount == 0 {
            base = nil
            return
        }
        let mapped = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw SafetensorsError(.io, file: path, "cannot mmap \(byteCount) bytes: \(String(cString: strerror(errno)))")
        }
        base = mapped
    }

    deinit { if let base { munmap(base, byteCount) } }
}
