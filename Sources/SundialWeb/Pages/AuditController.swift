import Foundation
import Hummingbird
import SundialCore

/// The audit log, newest first, filtered by actor, action and subject. Read-only: no route
/// changes it.
struct AuditController {
    let services: WebServices
    static let pageSize = 100

    // Strings, not optionals: Mustache looks a missing value up in the enclosing objects, so a nil
    // here would show the page's field of the same name.
    struct Line {
        var at: TimeText
        var actor: String
        var action: String
        var subject: String
        var detail: String
        var address: String
    }

    struct Page {
        var layout: Layout
        var lines: [Line]
        var actor: String
        var subject: String
        var actions: [TasksController.Choice]
        var nextPage: String?
    }

    func register(on router: some RouterMethods<WebRequestContext>) {
        router.get("audit") { request, context in try await list(request, context) }
    }

    private func list(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.requireUnlimitedAdmin()
        let query = request.queryFields
        var filter = AuditFilter()
        filter.actor = query["actor"].flatMap { $0.isEmpty ? nil : $0 }
        filter.subject = query["subject"].flatMap { $0.isEmpty ? nil : $0 }
        filter.action = query["action"].flatMap { AuditAction(rawValue: String($0)) }
        let before = query["before"].flatMap { Int64(String($0)) }
        let (limit, asked) = (Self.pageSize, filter)
        let (entries, now) = try await services.blocking { store in
            (try store.auditLog(asked, before: before, limit: limit + 1), try store.now())
        }
        var page = Page(
            layout: Layout(title: "Audit log", section: "audit", context: context, request: request),
            lines: entries.prefix(limit).map { e in
                Line(
                    at: TimeText(e.at, now: now, zone: identity.timeZone), actor: e.draft.actor,
                    action: e.draft.action.rawValue, subject: e.draft.subject ?? "", detail: e.draft.detail ?? "",
                    address: e.draft.address ?? "")
            },
            actor: filter.actor ?? "", subject: filter.subject ?? "",
            actions: AuditAction.allCases.map { .init(value: $0.rawValue, selected: $0 == filter.action) })
        if entries.count > limit, let last = entries.prefix(limit).last {
            var items = query.pairs.filter { $0.0 != "before" }
            items.append(("before", "\(last.id)"))
            page.nextPage = "/audit?" + TasksController.queryString(items)
        }
        return services.templates.render("audit", page)
    }
}
