// NumPy's .npy format, version 1.0, for 2-D float32 arrays (what `lmkit embed --output` writes and numpy.load
// reads): the magic "\x93NUMPY", version 1.0, a little-endian u16 header length, a Python-dict header padded with
// spaces to a 64-byte boundary and ending in "\n", then the values row-major little-endian. Follows
// numpy/lib/format.py. Not implemented: other dtypes, Fortran order, versions 2.0/3.0 (headers over 65 535 bytes).
import Foundation

public enum NPY {
    /// The .npy bytes of `rows` (all of one width) as a float32 array of shape (rows.count, width).
    public static func float32Matrix(_ rows: [[Float]]) -> Data {
        let width = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == width }, "NPY: rows of different widths")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows.count), \(width)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        data.reserveCapacity(data.count + rows.count * width * 4)
        for row in rows { for v in row { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } } }
        return data
    }

    /// The shape and values of a float32, C-order, 2-D .npy file as `float32Matrix` writes it; nil for anything else.
    public static func readFloat32Matrix(_ data: Data) -> (shape: [Int], values: [Float])? {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8), bytes[6] == 1 else { return nil }
        let length = Int(bytes[8]) | Int(bytes[9]) << 8
        guard bytes.count >= 10 + length, let header = String(bytes: bytes[10..<(10 + length)], encoding: .ascii),
              header.contains("'descr': '<f4'"), header.contains("'fortran_order': False"),
              let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else { return nil }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *), start = 10 + length
        guard shape.count == 2, bytes.count == start + 4 * count else { return nil }
        let values = (0..<count).map { i in
            Float(bitPattern: UInt32(bytes[start + 4 * i]) | UInt32(bytes[start + 4 * i + 1]) << 8
                | UInt32(bytes[start + 4 * i + 2]) << 16 | UInt32(bytes[start + 4 * i + 3]) << 24)
        }
        return (shape, values)
    }
}
