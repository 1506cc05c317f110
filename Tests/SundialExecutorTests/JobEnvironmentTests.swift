import SundialActions
import Testing

@Suite struct JobEnvironmentTests {
    @Test func theExecutorsSettingsAndPasswordsAreWithheld() {
        let inherited = JobEnvironment.inherited([
            "PATH": "/usr/bin", "HOME": "/home/x", "SUNDIAL_DATABASE_URL": "mysql://u:p@h/d",
            "SUNDIAL_REPLICA_URLS": "mysql://u:p@r/d", "SUNDIAL_THREADS": "8", "MYSQL_PWD": "p",
        ])
        #expect(inherited == ["PATH": "/usr/bin", "HOME": "/home/x"])
    }
}
