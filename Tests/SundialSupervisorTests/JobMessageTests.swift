import SundialSupervisor
import Testing

@Suite struct JobMessageTests {
    let start = JobMessage.start(
        JobRequest(
            id: 42, timeout: 1.5, grace: 5, fenceGrace: 0.5, leaseLeft: 9.25, directory: "/tmp",
            arguments: ["/bin/sh", "-c", "echo 'a b'; exit 3"], environment: ["A=1", "EMPTY=", "B=x=y"]))

    @Test func everyMessageComesBackAsItWasSentEvenOneByteAtATime() {
        let messages: [JobMessage] = [
            start, .lease(milliseconds: 9_500), .kill(job: 42), .fence(job: 7),
            .start(
                JobRequest(
                    id: 1, timeout: 0, grace: 1, fenceGrace: 1, leaseLeft: 1e9, directory: nil, arguments: ["true"],
                    environment: [])),
        ]
        var reader = JobMessageReader()
        var received: [JobMessage] = []
        for byte in messages.flatMap(\.frame) {
            reader.append([byte])
            while case .message(let message) = reader.next() { received.append(message) }
        }
        #expect(received == messages)
        #expect(reader.next() == .needMore)
    }

    @Test func aFrameThatIsNoMessageIsSkippedAndAnOversizedOneRefused() {
        var reader = JobMessageReader()
        let junk: [UInt8] = Array("S\0not-a-number".utf8)
        reader.append([UInt8(junk.count), 0, 0, 0] + junk)
        reader.append(JobMessage.kill(job: 3).frame)
        #expect(reader.next() == .unreadable(startedWithS: true))
        #expect(reader.next() == .message(.kill(job: 3)))
        reader.append([0xff, 0xff, 0xff, 0x7f])
        #expect(reader.next() == .tooLarge)
    }
}
