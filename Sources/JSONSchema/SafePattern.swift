/// Regular expressions that come from users (JSON Schema `pattern`, Itential `contains`), with
/// what makes a backtracking engine take exponential time refused: a repeated group that itself
/// repeats or alternates (`(a+)+`, `(a|aa)*`) and backreferences. Swift's Regex backtracks and
/// cannot be interrupted, so one such pattern would hold a thread for good.
public enum SafePattern {
    public static let maxLength = 1000

    /// The compiled pattern, or nil when it is invalid or refused.
    public static func compile(_ pattern: String) -> Regex<AnyRegexOutput>? {
        guard isSafe(pattern) else { return nil }
        return try? Regex(pattern)
    }

    static func isSafe(_ pattern: String) -> Bool {
        guard pattern.count <= maxLength else { return false }
        let characters = Array(pattern)
        // Per open group: whether it holds a quantifier or an alternation.
        var groups: [Bool] = []
        var index = 0
        func quantifierFollows(_ position: Int) -> Bool {
            position < characters.count && "*+{".contains(characters[position])
        }
        while index < characters.count {
            let character = characters[index]
            switch character {
            case "\\":
                if index + 1 < characters.count, characters[index + 1].isNumber, characters[index + 1] != "0" { return false }
                index += 2
                continue
            case "[":
                // A class is one character however long: skip to its end.
                index += 1
                if index < characters.count, characters[index] == "^" { index += 1 }
                if index < characters.count, characters[index] == "]" { index += 1 }
                while index < characters.count, characters[index] != "]" {
                    index += characters[index] == "\\" ? 2 : 1
                }
            case "(":
                groups.append(false)
            case ")":
                let risky = groups.popLast() ?? false
                if risky, quantifierFollows(index + 1) { return false }
                if risky || quantifierFollows(index + 1), !groups.isEmpty { groups[groups.count - 1] = true }
            case "|":
                if !groups.isEmpty { groups[groups.count - 1] = true }
            case "*", "+", "{":
                if !groups.isEmpty { groups[groups.count - 1] = true }
            default:
                break
            }
            index += 1
        }
        return true
    }
}
