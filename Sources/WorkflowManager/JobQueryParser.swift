import Engine

/// Parses the SQL-like `q` of a job search:
///
///     q      := or
///     or     := and ("OR" and)*
///     and    := unary ("AND" unary)*
///     unary  := "NOT" unary | "(" or ")" | field test
///     test   := op value | "IS" ["NOT"] "NULL" | ["NOT"] "IN" "(" value ("," value)* ")" | ["NOT"] "LIKE" value
///     op     := = | <> | != | < | <= | > | >=
///     value  := 'text' ('' is a quote) | number | true | false | $currentUser
///
/// Keywords and field names are case-insensitive; `true`/`false` stand for 1/0 (`closed=0`).
/// A query is bounded: nesting (parentheses and NOT) at most `maxDepth` deep, at most
/// `maxConditions` tests and `maxValues` values, so that neither the parse, nor the SQL built
/// from it, nor its bound parameters can grow with the body.
package struct JobQueryParser {
    static let maxDepth = 32
    static let maxConditions = 200
    static let maxValues = 1000

    package struct Failure: Error {
        package let message: String
    }

    enum Token: Equatable {
        case word(String)
        case text(String)
        case number(String)
        case symbol(String)
    }

    private var tokens: [Token]
    private var position = 0
    private var depth = 0
    private var conditions = 0
    private var values = 0
    private let currentUser: String

    package init(_ query: String, currentUser: String) throws {
        tokens = try JobQueryParser.tokenize(query)
        self.currentUser = currentUser
    }

    package mutating func parse() throws -> JobCondition {
        let condition = try parseOr()
        guard position == tokens.count else { throw Failure(message: "unexpected \(describe(tokens[position]))") }
        return condition
    }

    private mutating func parseOr() throws -> JobCondition {
        var condition = try parseAnd()
        while accept(keyword: "OR") { condition = .or(condition, try parseAnd()) }
        return condition
    }

    private mutating func parseAnd() throws -> JobCondition {
        var condition = try parseUnary()
        while accept(keyword: "AND") { condition = .and(condition, try parseUnary()) }
        return condition
    }

    private mutating func parseUnary() throws -> JobCondition {
        if accept(keyword: "NOT") { return .not(try nested { try $0.parseUnary() }) }
        if accept(symbol: "(") {
            let inner = try nested { try $0.parseOr() }
            guard accept(symbol: ")") else { throw Failure(message: "missing )") }
            return inner
        }
        conditions += 1
        guard conditions <= Self.maxConditions else { throw Failure(message: "more than \(Self.maxConditions) conditions") }
        guard case let .word(name)? = next() else { throw Failure(message: "expected a field name") }
        guard let field = JobField.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
            throw Failure(message: "unknown field \(name)")
        }
        if accept(keyword: "IS") {
            let negated = accept(keyword: "NOT")
            guard accept(keyword: "NULL") else { throw Failure(message: "expected NULL after IS") }
            return .isNull(field, negated: negated)
        }
        let negated = accept(keyword: "NOT")
        if accept(keyword: "IN") {
            guard accept(symbol: "(") else { throw Failure(message: "expected ( after IN") }
            var values = [try parseValue()]
            while accept(symbol: ",") { values.append(try parseValue()) }
            guard accept(symbol: ")") else { throw Failure(message: "missing ) after the IN list") }
            return .isIn(field, values, negated: negated)
        }
        if accept(keyword: "LIKE") {
            let condition = JobCondition.compare(field, .like, try parseValue())
            return negated ? .not(condition) : condition
        }
        guard !negated else { throw Failure(message: "expected IN or LIKE after NOT") }
        guard case let .symbol(op)? = next(), let comparison = Comparison(rawValue: op == "!=" ? "<>" : op) else {
            throw Failure(message: "expected a comparison after \(name)")
        }
        return .compare(field, comparison, try parseValue())
    }

    private mutating func nested(_ parse: (inout JobQueryParser) throws -> JobCondition) throws -> JobCondition {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw Failure(message: "nested more than \(Self.maxDepth) deep") }
        return try parse(&self)
    }

    private mutating func parseValue() throws -> String {
        values += 1
        guard values <= Self.maxValues else { throw Failure(message: "more than \(Self.maxValues) values") }
        switch next() {
        case let .text(text)?: return text
        case let .number(number)?: return number
        case let .word(word)? where word.lowercased() == "true": return "1"
        case let .word(word)? where word.lowercased() == "false": return "0"
        case let .word(word)? where word.lowercased() == "$currentuser": return currentUser
        case let token?: throw Failure(message: "expected a value, found \(describe(token))")
        case nil: throw Failure(message: "expected a value at the end")
        }
    }

    private mutating func next() -> Token? {
        guard position < tokens.count else { return nil }
        defer { position += 1 }
        return tokens[position]
    }

    private mutating func accept(keyword: String) -> Bool {
        guard position < tokens.count, case let .word(word) = tokens[position], word.uppercased() == keyword else { return false }
        position += 1
        return true
    }

    private mutating func accept(symbol: String) -> Bool {
        guard position < tokens.count, tokens[position] == .symbol(symbol) else { return false }
        position += 1
        return true
    }

    private func describe(_ token: Token) -> String {
        switch token {
        case let .word(text), let .number(text), let .symbol(text): "'\(text)'"
        case let .text(text): "'\(text)'"
        }
    }

    static func tokenize(_ query: String) throws -> [Token] {
        var tokens: [Token] = []
        let characters = Array(query)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character == " " || character == "\t" || character == "\n" {
                index += 1
            } else if character == "'" {
                var text = ""
                index += 1
                while true {
                    guard index < characters.count else { throw Failure(message: "unterminated string") }
                    if characters[index] == "'" {
                        if index + 1 < characters.count, characters[index + 1] == "'" {
                            text.append("'")
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    text.append(characters[index])
                    index += 1
                }
                tokens.append(.text(text))
            } else if character.isNumber || (character == "-" && index + 1 < characters.count && characters[index + 1].isNumber) {
                var text = String(character)
                index += 1
                while index < characters.count, characters[index].isNumber || characters[index] == "." {
                    text.append(characters[index])
                    index += 1
                }
                guard Double(text) != nil else { throw Failure(message: "bad number \(text)") }
                tokens.append(.number(text))
            } else if character.isLetter || character == "$" || character == "_" {
                var text = ""
                while index < characters.count,
                    characters[index].isLetter || characters[index].isNumber
                        || characters[index] == "_" || characters[index] == "$"
                {
                    text.append(characters[index])
                    index += 1
                }
                tokens.append(.word(text))
            } else {
                let two = index + 1 < characters.count ? String([character, characters[index + 1]]) : ""
                if ["<>", "!=", "<=", ">="].contains(two) {
                    tokens.append(.symbol(two))
                    index += 2
                } else if "=<>(),".contains(character) {
                    tokens.append(.symbol(String(character)))
                    index += 1
                } else {
                    throw Failure(message: "unexpected character '\(character)'")
                }
            }
        }
        return tokens
    }
}
