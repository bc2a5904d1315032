// Errors of the n-gram target: every one names the file (and line or field where there is one) and what was expected.
// Thrown by the ARPA reader, the binary loader, the corpus reader and the estimator; never a crash on user input.
import _LMSupport

/// An error from reading, estimating or querying an n-gram model, with the place it happened.
public struct NGramError: Error, CustomStringConvertible, Equatable {
    /// The file involved (path as given), or an empty string for in-memory input.
    public let file: String
    /// 1-based line number in `file`, or nil when the problem is not tied to a line (binary files, whole-corpus checks).
    public let line: Int?
    /// What was wrong and what was expected.
    public let message: String

    public init(file: String, line: Int? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        let place = file.isEmpty ? "<input>" : file
        if let line { return "\(place):\(line): \(message)" }
        return "\(place): \(message)"
    }
}

extension NGramError {
    /// The support layer's file error (mapping, atomic writing) with the same text.
    init(_ error: FileError) { self.init(file: error.path, error.message) }
}
