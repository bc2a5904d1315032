// Atomic file replacement, the one implementation every LMKit writer uses: bytes go to `.<name>.tmp-<pid>-<random>`
// in the destination directory; `commit()` fsyncs, closes and renames it over the destination, then fsyncs the
// directory so the rename itself survives a crash. Until the rename the destination is untouched, and a failed or
// abandoned write removes its temporary file. POSIX calls (not FileHandle) so errors carry errno text and large files
// stream without being held in memory. Does not preserve the old file's permissions (new files are 0644 & ~umask).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Streams a file into place atomically. Write with `write(_:)` (buffered; large chunks go straight through), then
/// call `commit()` once; dropping the writer without a successful commit removes the temporary file.
///
/// ```swift
/// let file = try AtomicFileWriter(path: "model.arpa")
/// try file.write("\\data\\\n")
/// try file.commit()
/// ```
/// Every method throws `FileError` naming `path` and the failed system call.
package final class AtomicFileWriter {
    /// The destination.
    package let path: String
    /// The temporary file the bytes go to until `commit()`.
    package let temporaryPath: String
    private let directory: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    private var committed = false

    /// Creates the temporary file beside `path`. Throws if `path` names a directory or the directory is not writable.
    package init(path: String) throws {
        self.path = path
        let slash = path.lastIndex(of: "/")
        directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var info = stat()
        if name.isEmpty || (stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR) {
            throw FileError(path: path, "is a directory, not a file")
        }
        Self.removeStaleTemporaryFiles(directory: directory, name: name)
        temporaryPath = (directory.hasSuffix("/") ? directory : directory + "/") + ".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor < 0 { throw FileError(path: path, "cannot create the temporary file \(temporaryPath)", syscall: "open") }
        buffer.reserveCapacity(bufferLimit + 4096)
    }

    deinit { if !committed { abandon() } }

    /// Removes `.<name>.tmp-<pid>-<random>` files left by writers of the same destination that were killed before
    /// they could clean up (SIGKILL): those whose pid no longer runs. A live writer's file is left alone.
    static func removeStaleTemporaryFiles(directory: String, name: String) {
        let prefix = ".\(name).tmp-"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for entry in entries where entry.hasPrefix(prefix) {
            let rest = entry.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                unlink((directory.hasSuffix("/") ? directory : directory + "/") + entry)
            }
        }
    }

    /// Closes and removes the temporary file (the destination is untouched).
    private func abandon() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        unlink(temporaryPath)
    }

    /// Appends raw bytes; chunks of 64 KiB or more skip the buffer.
    package func write(_ bytes: UnsafeRawBufferPointer) throws {
        if bytes.count >= 1 << 16 {
            try flush()
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
            if buffer.count >= bufferLimit { try flush() }
        }
    }

    /// Appends the bytes of `bytes` (`[UInt8]`, `Data`, …).
    package func write<Bytes: ContiguousBytes>(_ bytes: Bytes) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Appends UTF-8 text.
    package func write(_ text: String) throws {
        var text = text
        text.withUTF8 { buffer.append(contentsOf: $0) }
        if buffer.count >= bufferLimit { try flush() }
    }

    /// Appends one byte.
    @inline(__always)
    package func write(byte: UInt8) throws {
        buffer.append(byte)
        if buffer.count >= bufferLimit { try flush() }
    }

    /// Flushes, fsyncs and renames the temporary file onto `path`, then fsyncs the directory. Call once.
    package func commit() throws {
        precondition(!committed && descriptor >= 0, "AtomicFileWriter.commit called twice for \(path)")
        do {
            try flush()
            if fsync(descriptor) != 0 { throw FileError(path: path, "cannot flush \(temporaryPath) to disk", syscall: "fsync") }
            let closed = close(descriptor)
            descriptor = -1
            if closed != 0 { throw FileError(path: path, "cannot close \(temporaryPath)", syscall: "close") }
            if rename(temporaryPath, path) != 0 { throw FileError(path: path, "cannot move the finished file into place", syscall: "rename") }
        } catch {
            abandon()
            throw error
        }
        committed = true
        // Persist the rename itself; a failure here leaves a complete file, so it is not an error.
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// Overwrites `bytes` at `offset` of what was written so far (a header whose counts are known only at the end).
    package func overwrite(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        precondition(!committed && descriptor >= 0, "AtomicFileWriter.overwrite after commit for \(path)")
        try flush()
        var done = 0
        while done < bytes.count {
            let written = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if written < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, "cannot write \(temporaryPath)", syscall: "pwrite")
            }
            done += written
        }
    }

    private func flush() throws {
        if buffer.isEmpty { return }
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
                throw FileError(path: path, "cannot write \(temporaryPath)", syscall: "write")
            }
            offset += written
        }
    }
}

/// Whole-buffer atomic writes (an `AtomicFileWriter` written once and committed).
package enum AtomicFile {
    /// Replaces `path` with `bytes` atomically; throws `FileError`.
    package static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        let file = try AtomicFileWriter(path: path)
        try file.write(bytes)
        try file.commit()
    }

    /// Replaces `path` with `bytes` (`[UInt8]`, `Data`, …) atomically; throws `FileError`.
    package static func write<Bytes: ContiguousBytes>(_ bytes: Bytes, to path: String) throws {
        try bytes.withUnsafeBytes { try write($0, to: path) }
    }

    /// Replaces `path` with the UTF-8 bytes of `text` atomically; throws `FileError`.
    package static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }
}
