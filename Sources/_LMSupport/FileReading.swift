// Reading a whole small file (configs, vocabularies, vector files) after checking it is a regular file: a FIFO or a
// character device given where a file is expected would block forever or never end, and a directory gives an
// unhelpful error. Every reader of user paths goes through `FileReading.contents` or `MappedFile`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

package enum FileReading {
    /// Throws `FileError` unless `path` names an existing regular file (following symbolic links).
    package static func checkRegularFile(_ path: String) throws {
        var info = stat()
        if stat(path, &info) != 0 {
            if errno == ENOENT { throw FileError(path: path, "no such file") }
            throw FileError(path: path, "cannot open", syscall: "stat")
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFDIR: throw FileError(path: path, "is a directory, not a file")
        default: throw FileError(path: path, "not a regular file (a FIFO, socket or device cannot be read as a file)")
        }
    }

    /// The bytes of the regular file `path`; throws `FileError` naming the file for anything else.
    package static func contents(_ path: String) throws -> Data {
        try checkRegularFile(path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileError(path: path, "cannot read the file")
        }
        return data
    }
}
