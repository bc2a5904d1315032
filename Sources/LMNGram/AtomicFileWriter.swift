// Buffered writing of a whole file that appears atomically: bytes go to a temporary file in the same directory, which
// is fsynced and renamed over the destination on `commit()`. A failed or abandoned write leaves the destination as it was.
// POSIX calls (not FileHandle) so errors carry errno text and large files stream without holding them in memory.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `path` atomically (temporary file, fsync, rename). Call `commit()` once at the end; `deinit` removes an
/// uncommitted temporary file.
public final class AtomicFileWriter {
    /// Destination path.
    public let path: String
    private let temporaryPath: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    private var committed = false

    /// Creates the temporary file next to `path`; throws if the directory is not writable.
    public init(path: String) throws {
        self.path = path
        temporaryPath = path + ".tmp-\(getpid())"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if descriptor < 0 {
            throw NGramError(file: path, "cannot create \(temporaryPath): \(String(cString: strerror(errno)))")
        }
        buffer.reserveCapacity(bufferLimit + 4096)
    }

    deinit {
        if !committed {
            if descriptor >= 0 { close(descriptor) }
            unlink(temporaryPath)
        }
    }

    /// Appends UTF-8 text.
    public func write(_ text: String) throws {
        var text = text
        text.withUTF8 { buffer.append(contentsOf: $0) }
        if buffer.count >= bufferLimit { try flush() }
    }

    /// Appends raw bytes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if bytes.count >= 1 << 16 {
            try flush()
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
            if buffer.count >= bufferLimit { try flush() }
        }
    }

    /// Appends one byte.
    @inline(__always)
    public func write(byte: UInt8) throws {
        buffer.append(byte)
        if buffer.count >= bufferLimit { try flush() }
    }

    private func flush() throws {
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            #if canImport(Glibc)
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            #else
            let written = Darwin.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            #endif
            if written < 0 {
                if errno == EINTR { continue }
                throw NGramError(file: path, "write failed: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    /// Flushes, fsyncs and renames the temporary file onto `path`.
    public func commit() throws {
        try flush()
        if fsync(descriptor) != 0 {
            throw NGramError(file: path, "fsync failed: \(String(cString: strerror(errno)))")
        }
        close(descriptor)
        descriptor = -1
        if rename(temporaryPath, path) != 0 {
            throw NGramError(file: path, "rename from \(temporaryPath) failed: \(String(cString: strerror(errno)))")
        }
        committed = true
    }
}
