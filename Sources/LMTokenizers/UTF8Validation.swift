// Where a byte string stops being UTF-8, so every command that reads text (`tokenizer encode`, `prepare`, `eval`)
// rejects invalid input the same way: an error naming the byte offset, instead of silently replacing it with U+FFFD.

/// The byte offset of the first byte that does not begin or continue a valid UTF-8 sequence, nil when all valid.
/// `firstInvalidUTF8Offset([0x61, 0xFF])` is 1.
public func firstInvalidUTF8Offset<Bytes: Sequence>(_ bytes: Bytes) -> Int? where Bytes.Element == UInt8 {
    var parser = Unicode.UTF8.ForwardParser()
    var iterator = bytes.makeIterator()
    var offset = 0
    while true {
        switch parser.parseScalar(from: &iterator) {
        case .valid(let encoded): offset += encoded.count
        case .error: return offset
        case .emptyInput: return nil
        }
    }
}
