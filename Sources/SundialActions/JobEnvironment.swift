/// The environment a `shell` job inherits from its executor: everything but the executor's own
/// settings and secrets. Every `SUNDIAL_*` variable is removed (`SUNDIAL_DATABASE_URL` carries the
/// database password), and so are the MySQL client's password variables; the job then gets
/// `SUNDIAL_TASK_ID`, `SUNDIAL_TASK_NAME`, `SUNDIAL_ATTEMPT` and its payload's `env`.
public enum JobEnvironment {
    /// Variables never passed on, besides every `SUNDIAL_*` one.
    public static let withheld: Set<String> = ["MYSQL_PWD", "MARIADB_PWD", "MYSQL_PASSWORD"]

    public static func inherited(_ environment: [String: String]) -> [String: String] {
        environment.filter { key, _ in !key.hasPrefix("SUNDIAL_") && !withheld.contains(key) }
    }
}
