import SundialMySQL
import Testing

@Suite struct MySQLEndpointTests {
    @Test func parsesAllParts() throws {
        let e = try MySQLEndpoint(url: "mysql://app:s3cret@db.example:3307/jobs?socket=/run/mysqld.sock&pool_max=32")
        #expect(e.user == "app")
        #expect(e.password == "s3cret")
        #expect(e.host == "db.example")
        #expect(e.port == 3307)
        #expect(e.database == "jobs")
        #expect(e.socket == "/run/mysqld.sock")
        #expect(e.options == ["pool_max": "32"])
        #expect(e.node == "/run/mysqld.sock")
    }

    @Test func defaultsAndPercentEncoding() throws {
        let e = try MySQLEndpoint(url: "mysql://app:p%40ss%3Aword@localhost/jobs")
        #expect(e.password == "p@ss:word")
        #expect(e.port == 3306)
        #expect(e.node == "localhost:3306")
    }

    @Test func descriptionNeverShowsThePassword() throws {
        let e = try MySQLEndpoint(url: "mysql://app:s3cret@db:3307/jobs?pool_max=4")
        #expect(!e.description.contains("s3cret"))
        #expect(e.description == "mysql://app:***@db:3307/jobs?pool_max=4")
    }

    @Test func severalHostsAreTriedInOrderWithTheSameCredentials() throws {
        let e = try MySQLEndpoint(url: "mysql://app:s3cret@db1:3307,db2,10.0.0.3:3309/jobs?pool_max=4")
        #expect(e.addresses.map(\.host) == ["db1", "db2", "10.0.0.3"])
        #expect(e.addresses.map(\.port) == [3307, 3306, 3309])
        #expect(e.host == "db1" && e.port == 3307)
        #expect(e.nodes.map(\.node) == ["db1:3307", "db2:3306", "10.0.0.3:3309"])
        #expect(e.nodes.allSatisfy { $0.user == "app" && $0.password == "s3cret" && $0.database == "jobs" })
        #expect(e.nodes.allSatisfy { $0.options == ["pool_max": "4"] })
        #expect(e.description == "mysql://app:***@db1:3307,db2:3306,10.0.0.3:3309/jobs?pool_max=4")
        #expect(try MySQLEndpoint(url: "mysql://app@db1/jobs").nodes.count == 1)
    }

    @Test func aBadHostListIsRefusedWithoutTheURL() {
        for url in ["mysql://a:secret@db1,,db2/d", "mysql://a:secret@db1,/d", "mysql://a:secret@db1,db2/d?socket=/s"] {
            #expect(throws: MySQLConfigurationError.self) { try MySQLEndpoint(url: url) }
            do {
                _ = try MySQLEndpoint(url: url)
            } catch {
                #expect(!error.message.contains("secret"))
            }
        }
    }

    @Test func aConnectionsLifetimeComesFromTheURL() throws {
        let endpoint = try MySQLEndpoint(url: "mysql://a@h/d?max_lifetime=30")
        #expect(try ConnectionPool.Configuration(endpoint: endpoint).connection.maximumLifetime == .seconds(30))
        let forever = try MySQLEndpoint(url: "mysql://a@h/d?max_lifetime=0")
        #expect(try ConnectionPool.Configuration(endpoint: forever).connection.maximumLifetime == nil)
        #expect(ConnectionPool.Configuration().connection.maximumLifetime == .seconds(600))
    }

    @Test func badURLsGetClearErrorsWithoutTheURL() {
        func message(_ url: String) -> String? {
            do {
                _ = try MySQLEndpoint(url: url)
                return nil
            } catch { return error.message }
        }
        #expect(message("postgres://a:secret@h/db")?.hasPrefix("the database URL must start with mysql://") == true)
        #expect(message("mysql://h/db")?.hasPrefix("the database URL has no user name") == true)
        #expect(message("mysql://a:secret@h/")?.hasPrefix("the database URL must name one database") == true)
        #expect(message("mysql://a:secret@h/")?.contains("secret") == false)
    }

    @Test func poolSettingsFromTheURL() throws {
        let c = try ConnectionPool.Configuration(
            endpoint: try MySQLEndpoint(
                url: "mysql://a@h/d?pool_min=2&pool_max=8&acquire_timeout=0.5&ping_after_idle=3"))
        #expect(c.minimumSize == 2)
        #expect(c.maximumSize == 8)
        #expect(c.acquireTimeout == .milliseconds(500))
        #expect(c.pingAfterIdle == .seconds(3))
        #expect(throws: MySQLConfigurationError("database URL: pool_max=0 must be a whole number from 1 to 10000")) {
            try ConnectionPool.Configuration(endpoint: try MySQLEndpoint(url: "mysql://a@h/d?pool_max=0"))
        }
        #expect(throws: MySQLConfigurationError("database URL: pool_min (9) is larger than pool_max (8)")) {
            try ConnectionPool.Configuration(endpoint: try MySQLEndpoint(url: "mysql://a@h/d?pool_min=9&pool_max=8"))
        }
        #expect(throws: (any Error).self) {
            try ConnectionPool.Configuration(endpoint: try MySQLEndpoint(url: "mysql://a@h/d?pool_maxx=8"))
        }
    }
}

@Suite struct SessionSetupTests {
    /// MySQL 8.0 removed these (a session that sets one fails to connect at all); MariaDB-only
    /// statements would fail there too. The live check is `sessionsUseStandardSettingsOnly`.
    @Test func sessionSetupUsesOnlyStatementsMySQL8Accepts() {
        let removedOrMariaDBOnly = [
            "tx_isolation", "tx_read_only", "query_cache", "SET STATEMENT", "max_statement_time",
            "storage_engine", "old_passwords",
        ]
        let statements = MySQLConnection.sessionSetup(lockWait: .seconds(5))
        #expect(statements.contains("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"))
        for statement in statements {
            for word in removedOrMariaDBOnly {
                #expect(!statement.localizedCaseInsensitiveContains(word), "\(statement)")
            }
        }
        #expect(MySQLConnection.sessionSetup(lockWait: .milliseconds(10)).last?.hasSuffix("= 1") == true)
        // The idle bound is MariaDB's: in a comment MySQL skips.
        let bounded = MySQLConnection.sessionSetup(lockWait: .seconds(5), idleTransaction: .seconds(3))
        #expect(bounded.last == "SET SESSION innodb_lock_wait_timeout = 5 /*M!100300 , idle_transaction_timeout = 3 */")
    }
}
