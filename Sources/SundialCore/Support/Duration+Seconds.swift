extension Duration {
    /// Whole microseconds (truncated), as the database's INTERVAL … MICROSECOND takes them.
    public var microseconds: Int64 {
        let (seconds, overflow) = components.seconds.multipliedReportingOverflow(by: 1_000_000)
        if overflow { return components.seconds < 0 ? .min : .max }
        return seconds.addingReportingOverflow(components.attoseconds / 1_000_000_000_000).partialValue
    }

    /// Seconds as a Double.
    public var timeInterval: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// `seconds` as a Duration, saturating: NaN is zero, and anything beyond a hundred years is a
    /// hundred years (a `timeout_seconds` of 1e16 must not trap an executor).
    public static func clamped(seconds: Double) -> Duration {
        guard seconds.isFinite, seconds > 0 else { return .zero }
        let limit = 100.0 * 365 * 86_400
        return .microseconds(Int64((min(seconds, limit) * 1_000_000).rounded(.down)))
    }
}
