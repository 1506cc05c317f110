import Foundation
import Hummingbird
import SundialCore

/// Hummingbird's key/value persistence over the store's `console_session` table, so that every
/// web process shares the sessions. Keys are stored as SHA-256 hashes: the table alone does not
/// let anyone take over a session.
public struct StoreSessionDriver: PersistDriver {
    let store: any AccessStore
    let threads: BlockingThreads
    let defaultLifetime: Duration

    public init(store: any AccessStore, threads: BlockingThreads, defaultLifetime: Duration) {
        (self.store, self.threads, self.defaultLifetime) = (store, threads, defaultLifetime)
    }

    public func run() async throws {}

    public func create<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        if try await get(key: key, as: Object.self) != nil { throw PersistError.duplicate }
        try await set(key: key, value: value, expires: expires)
    }

    public func set<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        let data = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        let (store, hashed, lifetime) = (store, Self.hashed(key), defaultLifetime)
        try await threads.run {
            try store.putSession(key: hashed, data: data, expiresIn: expires, defaultLifetime: lifetime)
        }
    }

    public func get<Object: Codable & Sendable>(key: String, as: Object.Type) async throws -> Object? {
        try await getWithTTL(key: key, as: Object.self)?.object
    }

    public func getWithTTL<Object: Codable & Sendable>(key: String, as: Object.Type) async throws
        -> (object: Object, ttl: Duration?)?
    {
        let (store, hashed) = (store, Self.hashed(key))
        let found: (data: String, timeLeft: Duration)?
        do {
            found = try await threads.run { try store.session(key: hashed) }
        } catch {
            SessionLoadFailure.current?.happened = true
            throw error
        }
        guard let found else { return nil }
        do {
            return (try JSONDecoder().decode(Object.self, from: Data(found.data.utf8)), found.timeLeft)
        } catch {
            throw PersistError.invalidConversion
        }
    }

    public func remove(key: String) async throws {
        let (store, hashed) = (store, Self.hashed(key))
        try await threads.run { try store.removeSession(key: hashed) }
    }

    static func hashed(_ key: String) -> String { Secrets.sha256Hex(key) }
}
