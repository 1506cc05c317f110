import Foundation
import Hummingbird
import Mustache

/// The pages' Mustache templates and the static files, read once from the module's resources.
/// Mustache escapes every `{{value}}`: names, outputs and errors always show as text.
public struct Templates: Sendable {
    let library: MustacheLibrary
    let statics: [String: (body: ByteBuffer, type: String)]

    public static func load() async throws -> Templates {
        guard let root = Bundle.module.resourceURL else {
            throw WebError.badSetting("the console's templates are missing from the installation")
        }
        let library = try await MustacheLibrary(directory: root.appendingPathComponent("Templates").path)
        var statics: [String: (ByteBuffer, String)] = [:]
        let folder = root.appendingPathComponent("Static")
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            let data = try Data(contentsOf: folder.appendingPathComponent(name))
            let type =
                switch (name as NSString).pathExtension {
                case "css": "text/css; charset=utf-8"
                case "js": "text/javascript; charset=utf-8"
                case "svg": "image/svg+xml"
                default: "application/octet-stream"
                }
            statics[name] = (ByteBuffer(bytes: data), type)
        }
        return Templates(library: library, statics: statics)
    }

    /// A page as HTML.
    public func render(_ name: String, _ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let html = library.render(object, withTemplate: name) ?? "template \(name) is missing"
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A static file, or nil.
    func file(_ name: String) -> Response? {
        guard let (body, type) = statics[name] else { return nil }
        return Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=3600"],
            body: .init(byteBuffer: body))
    }
}
