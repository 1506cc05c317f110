import Synchronization

/// The environment a `shell` job inherits from its executor: everything but the executor's own
/// settings and secrets. Every `SUNDIAL_*` variable is removed (`SUNDIAL_DATABASE_URL` carries the
/// database password), and so are the MySQL client's password variables; the job then gets
/// `SUNDIAL_TASK_ID`, `SUNDIAL_TASK_NAME`, `SUNDIAL_ATTEMPT` and its payload's `env`.
public enum JobEnvironment {
    /// Variables never passed on, besides every `SUNDIAL_*` one.
    public static let withheld: Set<String> = ["MYSQL_PWD", "MARIADB_PWD", "MYSQL_PASSWORD"]

    /// Secrets the executor's settings name (the alert channels' `secret_env`, `password_env`),
    /// withheld too.
    private static let named = Mutex<Set<String>>([])

    /// Withholds these variables from every job and alert command from now on.
    public static func withhold(_ names: some Sequence<String>) {
        named.withLock { $0.formUnion(names) }
    }

    public static func inherited(_ environment: [String: String]) -> [String: String] {
        let secrets = named.withLock { $0 }
        return environment.filter { key, _ in
            !key.hasPrefix("SUNDIAL_") && !withheld.contains(key) && !secrets.contains(key)
        }
    }
}
