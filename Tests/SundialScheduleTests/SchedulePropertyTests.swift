import Foundation
import PropertyBased
import Testing

@testable import SundialSchedule

/// Random valid expressions and instants: the search agrees with a brute-force scan of `matches`.
@Suite struct SchedulePropertyTests {
    static let seconds = ["0", "*", "*/7", "15,45", "10-20/5", "59"]
    static let minutes = ["0", "*", "*/15", "5/20", "30", "0-10", "59"]
    static let hours = ["*", "0", "3", "*/6", "1-3", "9-17", "23", "2"]
    static let daysOfMonth = ["*", "?", "1", "15", "L", "L-2", "15W", "1W", "LW", "29", "31", "1-7", "*/10"]
    static let months = ["*", "1", "2", "JAN,JUL", "3-5", "*/3", "DEC", "feb"]
    static let daysOfWeek = ["*", "?", "0", "7", "MON-FRI", "5L", "5#3", "1#5", "SAT,SUN", "*/2"]
    static let years = ["*", "2026", "2024-2030", "2030/4"]
    static let zones = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"]

    /// An expression from the field lists, or nil if the combination can never fire.
    static func schedule(_ fields: [String], fieldCount: Int, zone: String) -> Schedule? {
        let text: String
        switch fieldCount {
        case 5: text = fields[1...5].joined(separator: " ")
        case 6: text = fields[0...5].joined(separator: " ")
        default: text = fields.joined(separator: " ")
        }
        return try? Schedule(text, timeZone: zone)
    }

    static let fieldsGenerator = zip(
        Gen.element(of: seconds), Gen.element(of: minutes), Gen.element(of: hours),
        Gen.element(of: daysOfMonth), Gen.element(of: months), Gen.element(of: daysOfWeek),
        Gen.element(of: years)
    ).map { [$0.0, $0.1, $0.2, $0.3, $0.4, $0.5, $0.6].compactMap { $0 } }

    /// Instants from 2024 to 2031, whole and fractional seconds.
    static let instants = Gen.int64(in: 1_704_067_200_000...1_956_528_000_000).map {
        Date(timeIntervalSince1970: Double($0) / 1000)
    }

    @Test func nextIsAfterMatchesAndNothingInBetweenMatches() async {
        await propertyCheck(
            count: 300, input: Self.fieldsGenerator, Gen.int(in: 5...7), Gen.element(of: Self.zones), Self.instants
        ) { fields, fieldCount, zone, t in
            guard let zone, let schedule = Self.schedule(fields, fieldCount: fieldCount, zone: zone) else { return }
            guard let next = schedule.next(after: t) else {
                // Only a year-restricted expression may run out of fires.
                #expect(fieldCount == 7 && fields[6] != "*", "\(schedule.text) in \(zone) has no fire after \(t)")
                return
            }
            #expect(next > t)
            #expect(schedule.matches(next), "\(schedule.text) in \(zone): next \(next) does not match")
            // Brute force over a bounded window: no matching second before `next`.
            let first = Int64(t.timeIntervalSince1970.rounded(.down)) + 1
            let last = min(Int64(next.timeIntervalSince1970) - 1, first + 86_400)
            let step: Int64 = fieldCount == 5 ? 60 : 1
            var s = fieldCount == 5 ? (first + 59) / 60 * 60 : first
            while s <= last {
                if schedule.matches(Date(timeIntervalSince1970: Double(s))) {
                    Issue.record("\(schedule.text) in \(zone): \(s) matches but next(after: \(t)) is \(next)")
                    break
                }
                s += step
            }
            // previous(before:) inverts next(after:).
            if let previous = schedule.previous(before: next) {
                #expect(previous <= t)
                #expect(schedule.next(after: previous) == next)
            }
        }
    }

    @Test func nextAndPreviousAreInverse() async {
        await propertyCheck(
            count: 300, input: Self.fieldsGenerator, Gen.int(in: 5...7), Gen.element(of: Self.zones), Self.instants
        ) { fields, fieldCount, zone, t in
            guard let zone, let schedule = Self.schedule(fields, fieldCount: fieldCount, zone: zone) else { return }
            let fires = schedule.next(after: t, count: 4)
            for pair in zip(fires, fires.dropFirst()) {
                #expect(schedule.previous(before: pair.1) == pair.0, "\(schedule.text) in \(zone)")
                #expect(pair.0 < pair.1)
            }
        }
    }

    @Test func wallTimeArithmeticAgreesWithFoundation() async {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        await propertyCheck(count: 2000, input: Gen.int64(in: -5_000_000_000...7_000_000_000)) { seconds in
            let wall = WallTime(wallSeconds: seconds)
            let c = calendar.dateComponents(
                [.year, .month, .day, .hour, .minute, .second, .weekday],
                from: Date(timeIntervalSince1970: Double(seconds)))
            #expect(
                [wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second]
                    == [c.year, c.month, c.day, c.hour, c.minute, c.second])
            #expect(CivilTime.weekday(days: CivilTime.floorDiv(seconds, 86_400)) == c.weekday! - 1)
            #expect(wall.wallSeconds == seconds)
        }
    }

    static let cronAlphabet = Array("0123456789*/-,?LW# @abcdefhijklmnoprstuvwxyzJANFEBMONSUN\t\u{1F4A5}:+.TZ")

    @Test func randomStringsNeverCrashOrHang() async {
        let strings = Gen.element(of: Self.cronAlphabet).array(of: 0...60).map { String($0.compactMap { $0 }) }
        await propertyCheck(count: 3000, input: strings, Self.instants) { text, t in
            guard let schedule = try? Schedule(text) else { return }
            if let next = schedule.next(after: t) { #expect(next > t) }
            if let previous = schedule.previous(before: t) { #expect(previous < t) }
        }
    }
}
