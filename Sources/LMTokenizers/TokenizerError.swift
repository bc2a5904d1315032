// The one error type of LMTokenizers: every failure names the file, line or field and what was expected.
// It does not log or recover; callers (the `lmkit` CLI) print `description` and exit non-zero.
import Foundation

/// An error from reading tokenizer files, validating input, encoding or decoding.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// A file could not be read or written (`path`, the system's reason).
    case io(path: String, reason: String)
    /// A file is malformed: `location` is "path:line" or "path: field", `expected` says what should be there.
    case malformed(location: String, expected: String)
    /// The text contains a special token that the caller did not allow (tiktoken's injection guard).
    case disallowedSpecialToken(String)
    /// A token id outside the vocabulary was passed to `decode`.
    case unknownTokenID(Int)
    /// An argument is out of its valid range (`name`, what was expected).
    case invalidArgument(name: String, expected: String)
    /// A feature of a file that LMTokenizers deliberately does not implement.
    case unsupported(location: String, feature: String)

    public var description: String {
        switch self {
        case let .io(path, reason): return "\(path): \(reason)"
        case let .malformed(location, expected): return "\(location): \(expected)"
        case let .disallowedSpecialToken(token):
            return "the text contains the special token \(token.debugDescription), which is not allowed here; "
                + "allow it explicitly (allowedSpecial) to encode it as a special id, or disallow nothing "
                + "(disallowedSpecial: []) to encode it as ordinary text"
        case let .unknownTokenID(id): return "token id \(id) is not in the vocabulary"
        case let .invalidArgument(name, expected): return "\(name): expected \(expected)"
        case let .unsupported(location, feature): return "\(location): \(feature) is not supported"
        }
    }
}
