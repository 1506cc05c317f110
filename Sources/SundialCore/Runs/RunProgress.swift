/// The output a running attempt has produced so far, written while it runs (about once a
/// second) so that people can follow it. Fenced by the claim token the run started under, and
/// written only while the run is still `running`: its final output always wins.
public struct RunProgress: Sendable, Equatable {
    public var key: RunKey
    public var token: ClaimToken
    /// Bounded as the final output is (head and tail).
    public var output: String

    public init(key: RunKey, token: ClaimToken, output: String) {
        (self.key, self.token, self.output) = (key, token, output)
    }
}
