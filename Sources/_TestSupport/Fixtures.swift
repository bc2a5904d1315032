// Locating and reading the committed reference fixtures (Tests/Fixtures), made by the scripts in Scripts/fixtures/.
// Not API: only test targets import _TestSupport.
import Foundation

/// The repository's `Tests/Fixtures` directory, found from this source file's location so tests need no bundle.
public let fixturesDirectory: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Tests/Fixtures")

/// The URL of a fixture file, e.g. `fixtureURL("tensor/ops.json")`.
public func fixtureURL(_ relativePath: String) -> URL {
    fixturesDirectory.appendingPathComponent(relativePath)
}

/// Decodes a JSON fixture into `T`; a missing or malformed fixture stops the test with the file name.
public func loadFixture<T: Decodable>(_ relativePath: String, as type: T.Type = T.self) throws -> T {
    let url = fixtureURL(relativePath)
    let data = try Data(contentsOf: url)
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch {
        throw FixtureError(message: "fixture \(relativePath): \(error)")
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
