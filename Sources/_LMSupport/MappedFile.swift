// A whole file mapped into memory (mmap, MAP_PRIVATE), the one implementation behind safetensors, token files,
// n-gram binaries and word2vec corpora. Refuses directories and other non-regular files by name; an empty file has
// no mapping (mmap cannot map zero bytes) and reads as zero bytes. Unmapped when the object goes away.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of a file, mapped privately.
///
/// `.readOnly` pages fault on a write. `.copyOnWrite` pages (PROT_READ | PROT_WRITE) may be written: the writes go to
/// this process's copy, never to the file — LMCheckpoint needs this because tensors borrowing checkpoint bytes may be
/// updated in place (an optimizer step).
package final class MappedFile: @unchecked Sendable {
    /// How the pages may be used.
    package enum Access: Sendable {
        case readOnly
        case copyOnWrite
    }

    /// The path as given.
    package let path: String
    /// File size in bytes.
    package let byteCount: Int
    /// Start of the mapping, nil for an empty file. Write through it only with `.copyOnWrite`.
    package let base: UnsafeMutableRawPointer?

    /// The whole file (empty for an empty file).
    package var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: byteCount) }

    /// Maps `path`; throws `FileError` naming the file and the failed call, or refusing a directory.
    package init(path: String, access: Access = .readOnly) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; fstat refuses it next.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if descriptor < 0 { throw FileError(path: path, "cannot open", syscall: "open") }
        defer { close(descriptor) }
        var info = stat()
        if fstat(descriptor, &info) != 0 { throw FileError(path: path, "cannot stat", syscall: "fstat") }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw FileError(path: path, "is a directory, not a file")
        default: throw FileError(path: path, "not a regular file")
        }
        byteCount = Int(info.st_size)
        if byteCount == 0 {
            base = nil
            return
        }
        let protection = access == .readOnly ? PROT_READ : PROT_READ | PROT_WRITE
        guard let mapped = mmap(nil, byteCount, protection, MAP_PRIVATE, descriptor, 0), mapped != MAP_FAILED else {
            throw FileError(path: path, "cannot map \(byteCount) bytes", syscall: "mmap")
        }
        base = mapped
    }

    deinit { if let base { munmap(base, byteCount) } }

    /// Tells the kernel the file will be read front to back (more read-ahead, pages dropped sooner). A hint only.
    package func adviseSequential() {
        if let base { _ = madvise(base, byteCount, MADV_SEQUENTIAL) }
    }
}
