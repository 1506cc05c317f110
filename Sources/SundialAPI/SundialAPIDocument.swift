import Foundation

/// The OpenAPI 3.1 document the API's types and server are generated from (`openapi.json`,
/// by swift-openapi-generator's build plugin), served as it is at `/api/v1/openapi.json`.
public enum SundialAPIDocument {
    /// The document's bytes, read from the module's resources.
    public static func load() throws -> Data {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json") else {
            throw CocoaError(.fileNoSuchFile)
        }
        return try Data(contentsOf: url)
    }
}
