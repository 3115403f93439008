import Engine
import JSON
import Postgres

public struct ItemSetting: Sendable, Equatable {
    public let name: String
    public let value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

public struct SavedSearch: Sendable, Equatable {
    public var id: String?
    public var name: String
    public var folder: String?
    /// `Standard` or `Chart`.
    public var searchType: String
    /// The query as the client sent it (text, usually JSON).
    public var definition: String
    public var colorRamp: String?
    public var sortIndex: String?
    public var groupIds: [String] = []

    public init(name: String, folder: String?, searchType: String, definition: String, colorRamp: String?, sortIndex: String?) {
        self.name = name
        self.folder = folder
        self.searchType = searchType
        self.definition = definition
        self.colorRamp = colorRamp
        self.sortIndex = sortIndex
    }

    public static let types = ["Standard", "Chart"]
}

/// What a workflow item keeps beside its diagrams and templates: settings and saved searches.
public struct ItemRecords {
    let connection: Connection

    public static let maxSettings = 200
    public static let maxSearches = 1000

    public func settings(item: Int64) throws -> [ItemSetting] {
        try connection.rows(Self.settingsOfItem, item)
    }

    /// Creates or replaces the given settings, in one transaction.
    public func save(item: Int64, _ settings: [ItemSetting]) throws {
        try connection.transaction { tx in
            for setting in settings { try tx.run(Self.upsertSetting, item, setting.name, setting.value) }
            guard try tx.rows(Self.settingsOfItem, item).count <= Self.maxSettings else {
                throw EngineError(.invalid, "An item keeps at most \(Self.maxSettings) settings")
            }
        }
    }

    public func searches(item: Int64, type: String?) throws -> [SavedSearch] {
        try connection.rows(Self.searchesOfItem, item, type, nil as String?)
    }

    public func search(item: Int64, id: String) throws -> SavedSearch? {
        try connection.first(Self.searchesOfItem, item, nil as String?, id)
    }

    /// The new search's id; `.conflict` when the item has too many.
    public func create(item: Int64, _ search: SavedSearch, by user: User) throws -> String {
        guard
            let id = try connection.first(
                Self.insertSearch, item, search.name, search.folder, search.searchType, search.definition, search.colorRamp,
                search.sortIndex, user.id, Self.maxSearches)
        else { throw EngineError(.conflict, "An item keeps at most \(Self.maxSearches) saved searches") }
        return id
    }

    public func update(item: Int64, _ search: SavedSearch) throws -> Bool {
        try connection.first(
            Self.updateSearch, item, search.id ?? "", search.name, search.folder, search.searchType, search.definition,
            search.colorRamp, search.sortIndex) != nil
    }

    public func share(item: Int64, id: String, groupIds: [String]) throws -> Bool {
        try connection.first(Self.shareSearch, item, id, groupIds) != nil
    }

    public func delete(item: Int64, id: String) throws -> Bool {
        try connection.first(Self.deleteSearch, item, id) != nil
    }

    // MARK: Statements

    static let settingsOfItem = Query(
        "wm_settings_of_item", "SELECT prop_name, value FROM wm_settings WHERE item_id = $1 ORDER BY prop_name", binding: Int64.self,
        reading: { row in ItemSetting(name: try row.value("prop_name"), value: try row.value("value")) })
    static let upsertSetting = Query(
        "wm_setting_upsert",
        "INSERT INTO wm_settings (item_id, prop_name, value) VALUES ($1, $2, $3) ON CONFLICT (item_id, prop_name) DO UPDATE SET value = $3",
        binding: Int64.self, String.self, String.self)

    static let searchColumns = "public_id, name, folder, search_type, definition, color_ramp, sort_index, to_json(group_ids) AS group_ids"
    @Sendable static func savedSearch(_ row: Row) throws -> SavedSearch {
        var search = SavedSearch(
            name: try row.value("name"), folder: try row.optional("folder"), searchType: try row.value("search_type"),
            definition: try row.value("definition"), colorRamp: try row.optional("color_ramp"), sortIndex: try row.optional("sort_index"))
        search.id = try row.value("public_id")
        search.groupIds = (try row.json("group_ids")).arrayValue?.compactMap(\.stringValue) ?? []
        return search
    }
    static let searchesOfItem = Query(
        "wm_searches_of_item",
        """
        SELECT \(searchColumns) FROM wm_saved_searches
        WHERE item_id = $1 AND ($2::text IS NULL OR search_type = $2) AND ($3::text IS NULL OR public_id = $3) ORDER BY id
        """, binding: Int64.self, String?.self, String?.self, reading: savedSearch)
    static let insertSearch = Query(
        "wm_search_insert",
        """
        INSERT INTO wm_saved_searches (item_id, name, folder, search_type, definition, color_ramp, sort_index, created_by)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE (SELECT count(*) FROM wm_saved_searches WHERE item_id = $1) < $9
        RETURNING public_id
        """, binding: Int64.self, String.self, String?.self, String.self, String.self, String?.self, String?.self, Int64.self, Int.self,
        reading: { try $0.value("public_id", as: String.self) })
    static let updateSearch = Query(
        "wm_search_update",
        """
        UPDATE wm_saved_searches SET name = $3, folder = $4, search_type = $5, definition = $6, color_ramp = $7, sort_index = $8
        WHERE item_id = $1 AND public_id = $2 RETURNING id
        """, binding: Int64.self, String.self, String.self, String?.self, String.self, String.self, String?.self, String?.self,
        reading: { try $0.value("id", as: Int64.self) })
    static let shareSearch = Query(
        "wm_search_share", "UPDATE wm_saved_searches SET group_ids = $3 WHERE item_id = $1 AND public_id = $2 RETURNING id",
        binding: Int64.self, String.self, [String].self, reading: { try $0.value("id", as: Int64.self) })
    static let deleteSearch = Query(
        "wm_search_delete", "DELETE FROM wm_saved_searches WHERE item_id = $1 AND public_id = $2 RETURNING id", binding: Int64.self,
        String.self, reading: { try $0.value("id", as: Int64.self) })
}

extension ItemRecords: StatementCatalog {
    package static var statements: [Statement] {
        [
            settingsOfItem.statement, upsertSetting.statement, searchesOfItem.statement, insertSearch.statement, updateSearch.statement,
            shareSearch.statement, deleteSearch.statement,
        ]
    }
}
