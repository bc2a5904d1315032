import XCTest
final class LMNGramTestsPlaceholder: XCTestCase {}
