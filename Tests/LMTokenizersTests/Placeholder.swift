import XCTest
final class LMTokenizersTestsPlaceholder: XCTestCase {}
