import Foundation
import Hummingbird

/// The API's paths and their methods, read from the OpenAPI document: a request for a path the
/// API has, with a method it does not take, is a 405 with `Allow`, not a 404.
struct APIRoutes: Sendable {
    private let routes: [(pattern: [String], methods: [String])]

    init(document: Data, prefix: String = "/api/v1") {
        let paths = (try? JSONSerialization.jsonObject(with: document) as? [String: Any])?["paths"] as? [String: Any]
        routes = (paths ?? [:]).map { path, operations in
            (
                (prefix + path).split(separator: "/").map(String.init),
                ((operations as? [String: Any]) ?? [:]).keys.map { $0.uppercased() }.sorted()
            )
        }
    }

    /// The methods the API takes on `path`, or nil when it has no such path.
    func methods(for path: String) -> [String]? {
        let parts = path.split(separator: "/").map(String.init)
        let found = routes.filter { route in
            route.pattern.count == parts.count
                && zip(route.pattern, parts).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }
        // As the router does: a path spelled out wins over one with a parameter in its place.
        let parameters: ([String]) -> Int = { $0.filter { $0.hasPrefix("{") }.count }
        guard let fewest = found.map({ parameters($0.pattern) }).min() else { return nil }
        return Array(Set(found.filter { parameters($0.pattern) == fewest }.flatMap(\.methods))).sorted()
    }
}
