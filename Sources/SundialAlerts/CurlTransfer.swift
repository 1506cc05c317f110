import CCurl
import Foundation

/// One blocking libcurl transfer (HTTP POST, or SMTP with STARTTLS), on the calling thread.
/// libcurl is the SMTP client everyone else trusts; it speaks HTTP just as well, so both alert
/// channels that talk to a network share it.
final class CurlTransfer {
    private let handle: UnsafeMutableRawPointer
    private var lists: [UnsafeMutablePointer<curl_slist>?] = []
    private var upload: Upload?
    private let received = Received()
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)

    /// The bytes the server answered (at most 64 KiB kept).
    final class Received {
        var data = Data()
    }

    /// The body being sent, read by libcurl's read callback.
    final class Upload {
        let data: Data
        var offset = 0
        init(_ data: Data) { self.data = data }
    }

    private static let initialized: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    init() throws(AlertDeliveryError) {
        _ = Self.initialized
        guard let handle = curl_easy_init() else { throw AlertDeliveryError("libcurl could not start a transfer") }
        self.handle = handle
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_NOPROGRESS, 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        _ = sundial_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        _ = sundial_curl_set_pointer(handle, CURLOPT_WRITEDATA, Unmanaged.passUnretained(received).toOpaque())
        _ = sundial_curl_set_write(handle) { bytes, size, count, context in
            let received = Unmanaged<Received>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            if received.data.count < 65_536, let bytes {
                received.data.append(
                    UnsafeRawPointer(bytes).assumingMemoryBound(to: UInt8.self),
                    count: min(length, 65_536 - received.data.count))
            }
            return length
        }
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
        for list in lists { curl_slist_free_all(list) }
    }

    func set(_ option: CURLoption, _ value: Int) throws(AlertDeliveryError) {
        try check(sundial_curl_set_long(handle, option, value), "setting an option")
    }

    func set(_ option: CURLoption, _ value: String) throws(AlertDeliveryError) {
        // libcurl copies string options (since 7.17), so the C string may go away after the call.
        try check(value.withCString { sundial_curl_set_string(handle, option, $0) }, "setting an option")
    }

    /// A list option (headers, mail recipients); kept alive as long as the transfer.
    func set(_ option: CURLoption, list values: [String]) throws(AlertDeliveryError) {
        var list: UnsafeMutablePointer<curl_slist>?
        for value in values { list = curl_slist_append(list, value) }
        lists.append(list)
        try check(sundial_curl_set_pointer(handle, option, list), "setting a list")
    }

    /// Sends `body` as the upload (SMTP DATA) or the request body (HTTP POST).
    func send(_ body: Data, asUpload: Bool) throws(AlertDeliveryError) {
        let upload = Upload(body)
        self.upload = upload
        if asUpload {
            try set(CURLOPT_UPLOAD, 1)
            try set(CURLOPT_INFILESIZE_LARGE, body.count)
        } else {
            try set(CURLOPT_POST, 1)
            try set(CURLOPT_POSTFIELDSIZE_LARGE, body.count)
        }
        _ = sundial_curl_set_pointer(handle, CURLOPT_READDATA, Unmanaged.passUnretained(upload).toOpaque())
        _ = sundial_curl_set_read(handle) { buffer, size, count, context in
            let upload = Unmanaged<Upload>.fromOpaque(context!).takeUnretainedValue()
            let length = min(size * count, upload.data.count - upload.offset)
            guard length > 0, let buffer else { return 0 }
            upload.data.copyBytes(
                to: UnsafeMutableRawPointer(buffer).assumingMemoryBound(to: UInt8.self),
                from: upload.offset..<upload.offset + length)
            upload.offset += length
            return length
        }
    }

    /// Runs the transfer; returns the response code (HTTP status; SMTP's last reply code) and body.
    func perform() throws(AlertDeliveryError) -> (code: Int, body: Data) {
        let result = curl_easy_perform(handle)
        guard result == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            let reason = String(cString: curl_easy_strerror(result))
            throw AlertDeliveryError(detail.isEmpty ? reason : "\(reason): \(detail)")
        }
        var code = 0
        _ = sundial_curl_response_code(handle, &code)
        return (code, received.data)
    }

    private func check(_ code: CURLcode, _ what: String) throws(AlertDeliveryError) {
        guard code == CURLE_OK else {
            throw AlertDeliveryError("libcurl refused \(what): \(String(cString: curl_easy_strerror(code)))")
        }
    }
}
