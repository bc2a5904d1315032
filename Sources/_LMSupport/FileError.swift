// The one error the support layer's file code throws: the file, what could not be done and, for a failed system
// call, its name and strerror text, e.g. `out/ckpt.safetensors: cannot move the finished file into place
// (rename: No space left on device)`. Targets wrap it in their own error type at their public boundary.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file operation that failed; `description` is `path: message`.
package struct FileError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file the caller asked about (the destination, not the temporary file, for atomic writes).
    package let path: String
    /// What went wrong, with the system call and its strerror text when one failed.
    package let message: String
    /// The system call that failed (`open`, `fstat`, `mmap`, `write`, `fsync`, `close`, `rename`), or nil for a
    /// refused request such as mapping a directory.
    package let syscall: String?
    /// `errno` of the failed call, 0 when `syscall` is nil.
    package let code: Int32

    /// A refused request that is not a system call failure (`is a directory, not a file`).
    package init(path: String, _ message: String) {
        self.path = path
        self.message = message
        syscall = nil
        code = 0
    }

    /// `what` failed in `syscall` with `code` (default: the current `errno`); the message reads
    /// `what (syscall: strerror)`.
    package init(path: String, _ what: String, syscall: String, code: Int32 = errno) {
        self.path = path
        self.syscall = syscall
        self.code = code
        message = "\(what) (\(syscall): \(String(cString: strerror(code))))"
    }

    package var description: String { "\(path): \(message)" }
}

/// Runs `body`, replacing a `FileError` it throws with `wrap(error)` — a target's own error type at its public
/// boundary; other errors pass through unchanged.
package func rethrowingFileErrors<T>(as wrap: (FileError) -> any Error, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as FileError { throw wrap(error) }
}
