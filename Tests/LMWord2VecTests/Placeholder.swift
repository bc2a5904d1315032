import XCTest
final class LMWord2VecTestsPlaceholder: XCTestCase {}
