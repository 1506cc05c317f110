import Hummingbird

/// What every page's frame shows: the title, the navigation, who is signed in, the CSRF token
/// for its forms, and a message from the last action. Stored properties only: Mustache reads
/// values by reflection.
public struct Layout: Sendable {
    public var title: String
    public var userName: String?
    public var role: String?
    public var isAdmin = false
    public var canOperate = false
    public var csrf: String
    public var notice: String?
    public var problem: String?
    /// Which navigation entry is current, for `aria-current`.
    public var current: [String: Bool]
    /// The page's `[data-live]` part is refreshed by the script, at a rate the viewer picks.
    public var live: Bool

    init(title: String, section: String, context: WebRequestContext, request: Request? = nil) {
        self.title = title
        current = [section: true]
        live = ["dashboard", "runs", "executors", "tasks"].contains(section)
        userName = context.identity?.userName
        role = context.identity?.role.rawValue
        isAdmin = context.identity?.allows(.admin) ?? false
        canOperate = context.identity?.allows(.operator) ?? false
        csrf = context.csrfToken
        if let request {
            notice = request.queryFields["notice"]
            problem = request.queryFields["problem"]
        }
    }
}
