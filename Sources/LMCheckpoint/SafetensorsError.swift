// Errors for reading and writing safetensors files: every case names the file and says what was found and expected.
// Readers never trap on bad input; they throw one of these. Not used for programmer errors inside LMKit.

/// A problem with a safetensors file (or with a request to read or write one).
///
/// `description` reads like `model.safetensors: tensor "wte.weight": data_offsets [0, 96] end past the data
/// section (64 bytes)`, so it can be shown to a user as is.
public struct SafetensorsError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong, for callers that react to a particular failure.
    public enum Kind: String, Sendable {
        /// The file could not be opened, read, mapped or written (an OS error).
        case io
        /// The file is shorter than the 8-byte header length, or than the data its header describes.
        case truncated
        /// The 8-byte header length points past the end of the file (or over the 100 MB header limit).
        case headerLengthPastEnd
        /// The header is not valid UTF-8 JSON.
        case invalidJSON
        /// The header is JSON but not an object, or an entry/field has the wrong JSON type.
        case invalidHeader
        /// A dtype string that is not part of the safetensors format (or that LMKit cannot handle).
        case unknownDType
        /// `data_offsets` outside the data section, reversed, or leaving bytes no tensor uses.
        case offsetsOutOfRange
        /// Two tensors' byte ranges overlap.
        case overlappingOffsets
        /// shape × dtype size differs from the byte length given by `data_offsets`.
        case sizeMismatch
        /// A tensor name that is not in the file.
        case missingTensor
        /// A request LMKit cannot honour (e.g. writing an integer dtype from a float tensor).
        case invalidArgument
    }

    public let kind: Kind
    /// The file the problem is about (as the caller gave it).
    public let file: String
    /// What was found and what was expected.
    public let detail: String

    public init(_ kind: Kind, file: String, _ detail: String) {
        self.kind = kind
        self.file = file
        self.detail = detail
    }

    public var description: String { "\(file): \(detail)" }
}
