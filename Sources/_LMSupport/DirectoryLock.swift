// An advisory lock on a directory, so two processes (two `lmkit train` runs) never write into one out_dir: an
// exclusive, non-blocking flock(2) on `<directory>/.lock`, held while the object lives. The kernel drops the lock
// when the descriptor closes, including on SIGKILL or a crash, so a stale lock from a dead process never blocks a
// resume. The holder writes its pid into the file; a refused caller reads it back for the error message.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

package final class DirectoryLock {
    /// The lock file, `<directory>/.lock`.
    package let path: String
    private var descriptor: Int32

    /// Takes the lock or throws `FileError` naming the directory and, when it can be read, the holder's pid.
    package init(directory: String) throws {
        path = (directory.hasSuffix("/") ? directory : directory + "/") + ".lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if descriptor < 0 { throw FileError(path: path, "cannot create the lock file", syscall: "open") }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(descriptor, &buffer, buffer.count, 0)
            close(descriptor)
            descriptor = -1
            if code == EWOULDBLOCK {
                let pid = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
                throw FileError(path: directory, "is in use by another process\(pid.isEmpty ? "" : " (pid \(pid))"): two runs cannot share one directory; wait for it to finish or choose another")
            }
            throw FileError(path: path, "cannot lock", syscall: "flock", code: code)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    /// Releases the lock now (otherwise when the object goes away, or the process ends).
    package func release() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
    }

    deinit { release() }
}
