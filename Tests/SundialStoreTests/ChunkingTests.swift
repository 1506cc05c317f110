import Testing

@testable import SundialMySQLStore

@Suite struct ChunkingTests {
    @Test func batchesSplitIntoPowersOfTwoThatCoverEverythingOnce() {
        for count in [0, 1, 2, 3, 63, 64, 65, 100, 1000] {
            let slices = Array(0..<count).chunkedInPowersOfTwo(upTo: 64)
            #expect(slices.flatMap { $0 } == Array(0..<count))
            #expect(slices.allSatisfy { $0.count <= 64 && $0.count & ($0.count - 1) == 0 })
        }
    }
}
