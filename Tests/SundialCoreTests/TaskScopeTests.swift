import SundialCore
import Testing

struct TaskScopeTests {
    @Test func aScopeOfTagsContainsTasksWithOneOfThemOnly() {
        let scope = TaskScope(stored: "billing, etl")
        #expect(scope.contains(taskTags: "etl"))
        #expect(scope.contains(taskTags: "gpu,billing"))
        #expect(!scope.contains(taskTags: "gpu"))
        #expect(!scope.contains(taskTags: nil))
        #expect(TaskScope.everything.contains(taskTags: nil))
        #expect(TaskScope(stored: "") == .everything)
    }

    @Test func aNarrowerScopeIsCovered() {
        let wide = TaskScope(stored: "a,b")
        #expect(TaskScope.everything.covers(wide))
        #expect(wide.covers(TaskScope(stored: "a")))
        #expect(!wide.covers(TaskScope(stored: "a,c")))
        #expect(!wide.covers(.everything))
    }

    @Test func rolesAreOrdered() {
        #expect(Role.viewer < Role.operator && Role.operator < Role.admin)
        #expect(Role.allCases.max() == .admin)
    }
}
